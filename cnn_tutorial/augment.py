"""Data augmentation on batches of image tensors, seeded and dependency-free.

Augmentation shows the model slightly changed copies of the training images
(shifted, flipped) so it learns what does not change the class. Each
function here takes a batch shaped (N, C, H, W) and returns a new batch of
the same shape; pass one (or `compose(...)` of several) to
`cnn_tutorial.training.fit(augment=...)`.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor], torch.Tensor]


def random_shift(max_shift: int = 2, seed: int = 0) -> Augment:
    """Shift each image by up to `max_shift` pixels in each direction (zero fill).

    Args:
        max_shift: Largest shift, in pixels.
        seed: Seed of the generator drawing the shifts.

    Returns:
        A function from a batch to a shifted batch.

    Examples:
        >>> batch = torch.zeros(1, 1, 5, 5); batch[0, 0, 2, 2] = 1
        >>> shifted = random_shift(max_shift=2, seed=0)(batch)
        >>> shifted.shape, float(shifted.sum())
        (torch.Size([1, 1, 5, 5]), 1.0)
    """
    generator = torch.Generator().manual_seed(seed)

    def shift(batch: torch.Tensor) -> torch.Tensor:
        _check_batch(batch)
        n, _, h, w = batch.shape
        padded = F.pad(batch, (max_shift,) * 4)
        offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
        return torch.stack(
            [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
        )

    return shift


def random_flip(seed: int = 0) -> Augment:
    """Mirror each image left-right with probability 1/2.

    Only use it where a mirrored image keeps its class (a ring, a cross),
    not for digits or letters.

    Examples:
        >>> batch = torch.arange(4.0).reshape(1, 1, 2, 2).repeat(8, 1, 1, 1)
        >>> flipped = random_flip(seed=0)(batch)
        >>> sorted({tuple(img.flatten().tolist()) for img in flipped})
        [(0.0, 1.0, 2.0, 3.0), (1.0, 0.0, 3.0, 2.0)]
    """
    generator = torch.Generator().manual_seed(seed)

    def flip(batch: torch.Tensor) -> torch.Tensor:
        _check_batch(batch)
        chosen = torch.rand(len(batch), generator=generator) < 0.5
        out = batch.clone()
        out[chosen] = batch[chosen].flip(-1)
        return out

    return flip


def compose(*augments: Augment) -> Augment:
    """Apply several augmentations in order.

    Examples:
        >>> both = compose(random_flip(seed=0), random_shift(1, seed=0))
        >>> both(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """

    def apply(batch: torch.Tensor) -> torch.Tensor:
        for augment in augments:
            batch = augment(batch)
        return batch

    return apply


def _check_batch(batch: torch.Tensor) -> None:
    if batch.dim() != 4:
        raise ValueError(f"expected a batch shaped (N, C, H, W), got {tuple(batch.shape)}")

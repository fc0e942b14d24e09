"""Data augmentation on batches of image tensors, seeded and dependency-free.

中文：对图像张量批量做数据增强，可设随机种子，不依赖其他库。

Augmentation shows the model slightly changed copies of the training images
(shifted, flipped) so it learns what does not change the class. Each
function here takes a batch shaped (N, C, H, W) and returns a new batch of
the same shape; pass one (or `compose(...)` of several) to
`cnn_tutorial.training.fit(augment=...)`.

Under torchrun each process augments only its share of every batch. So that
any number of processes gives exactly the single-process run, the functions
here accept a keyword argument `share` (a `Share`, which `fit` passes): they
draw their random numbers for the whole global batch, the same numbers on
every process, and each process keeps the slice that belongs to its images.
The processes thus augment differently, and all together exactly as one
process does.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor], torch.Tensor]
PADDING_MODES = ("reflect", "replicate", "constant")


@dataclass(frozen=True)
class Share:
    """The part of a global batch that one process holds: part `rank` of `world_size`.

    `take` cuts a tensor along its first dimension as
    `cnn_tutorial.training.ShardedBatchSampler` cuts a batch of indices, so
    random numbers drawn for the `size` images of the global batch and then
    `take`-n line up with this process's images.

    Attributes:
        size: Images in the global batch, all processes together.
        rank: This process's number.
        world_size: How many processes share the batch.

    Examples:
        >>> [Share(5, rank, 2).take(torch.arange(5)).tolist() for rank in (0, 1)]
        [[0, 1, 2], [3, 4]]
        >>> len(Share(5, 1, 2))  # this process's images
        2
    """

    size: int
    rank: int = 0
    world_size: int = 1

    def __len__(self) -> int:
        return self.size // self.world_size + (self.rank < self.size % self.world_size)

    def take(self, values: torch.Tensor) -> torch.Tensor:
        """This process's slice of `values`, drawn for the global batch (first dimension `size`)."""
        return values.tensor_split(self.world_size)[self.rank]


def takes_share(augment: Callable) -> bool:
    """Whether `augment` accepts the keyword argument `share` (then `fit` passes it one).

    Examples:
        >>> takes_share(random_flip()), takes_share(lambda batch: batch)
        (True, False)
    """
    try:
        return "share" in inspect.signature(augment).parameters
    except (TypeError, ValueError):  # no signature to read (some built-ins)
        return False


def _draw(share: "Share | None", batch: torch.Tensor, draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
    # One random draw per image of the global batch, then this process's slice of them.
    share = share or Share(len(batch))
    if len(share) != len(batch):
        raise ValueError(f"{share} holds {len(share)} images, but the batch has {len(batch)}")
    return share.take(draw(share.size))


def random_shift(max_shift: int = 2, seed: int = 0, padding_mode: str = "reflect") -> Augment:
    """Shift each image by up to `max_shift` pixels in each direction.

    The batch is padded by `max_shift` pixels on every side, then each image
    is cropped back to its size at a random offset, like torchvision's
    `transforms.v2.RandomCrop(size, padding=max_shift, padding_mode=...)`.
    The default `"reflect"` fills the uncovered border with mirrored
    background; `"constant"` fills it with zeros, which leaves black bands
    that test images never have; `"replicate"` repeats the edge pixels.

    Args:
        max_shift: Largest shift, in pixels (0 disables shifting); must be
            smaller than the images' height and width for `"reflect"`.
        seed: Seed of the generator drawing the shifts.
        padding_mode: `"reflect"`, `"replicate"` or `"constant"` (zeros).

    Returns:
        A function from a batch to a shifted batch; its keyword argument
        `share` (a `Share`) makes it draw for the global batch and keep
        this process's shifts.

    Raises:
        ValueError: If `max_shift` is negative or `padding_mode` is unknown.

    Examples:
        >>> batch = torch.rand(8, 3, 32, 32)
        >>> random_shift(max_shift=4, seed=0)(batch).shape
        torch.Size([8, 3, 32, 32])

        With zero fill, a pixel that stays inside moves and nothing else appears:

        >>> dot = torch.zeros(1, 1, 5, 5); dot[0, 0, 2, 2] = 1
        >>> float(random_shift(max_shift=2, seed=0, padding_mode="constant")(dot).sum())
        1.0
        >>> random_shift(padding_mode="zeros")
        Traceback (most recent call last):
            ...
        ValueError: padding_mode must be one of ('reflect', 'replicate', 'constant'), got 'zeros'
    """
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    generator = torch.Generator().manual_seed(seed)

    def shift(batch: torch.Tensor, share: Share | None = None) -> torch.Tensor:
        _check_batch(batch)
        _, _, h, w = batch.shape
        padded = F.pad(batch, (max_shift,) * 4, mode=padding_mode)
        offsets = _draw(share, batch, lambda n: torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator))
        return torch.stack(
            [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())]
        )

    return shift


def random_flip(seed: int = 0) -> Augment:
    """Mirror each image left-right with probability 1/2.

    Only use it where a mirrored image keeps its class (a ring, a cross),
    not for digits or letters. Like `random_shift`, the function it returns
    takes an optional `share`.

    Examples:
        >>> batch = torch.arange(4.0).reshape(1, 1, 2, 2).repeat(8, 1, 1, 1)
        >>> flipped = random_flip(seed=0)(batch)
        >>> sorted({tuple(img.flatten().tolist()) for img in flipped})
        [(0.0, 1.0, 2.0, 3.0), (1.0, 0.0, 3.0, 2.0)]
    """
    generator = torch.Generator().manual_seed(seed)

    def flip(batch: torch.Tensor, share: Share | None = None) -> torch.Tensor:
        _check_batch(batch)
        chosen = _draw(share, batch, lambda n: torch.rand(n, generator=generator)) < 0.5
        out = batch.clone()
        out[chosen] = batch[chosen].flip(-1)
        return out

    return flip


def compose(*augments: Augment) -> Augment:
    """Apply several augmentations in order.

    The result takes an optional `share` and passes it to those of
    `augments` that accept one.

    Examples:
        >>> both = compose(random_flip(seed=0), random_shift(1, seed=0))
        >>> both(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 3, 8, 8])
    """
    sharing = [takes_share(augment) for augment in augments]

    def apply(batch: torch.Tensor, share: Share | None = None) -> torch.Tensor:
        for augment, takes in zip(augments, sharing, strict=True):
            batch = augment(batch, share=share) if takes else augment(batch)
        return batch

    return apply


def _check_batch(batch: torch.Tensor) -> None:
    if batch.dim() != 4:
        raise ValueError(f"expected a batch shaped (N, C, H, W), got {tuple(batch.shape)}")

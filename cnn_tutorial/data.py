"""Data sets that need no network: real digits that ship with scikit-learn,
and a generated set of colored shapes shaped like the seed's CIFAR-style input.

中文：不需要网络的数据集：scikit-learn 自带的手写数字，以及由随机种子生成的 3×32×32 形状图像。

Both are `ImageSet`s: `torch.utils.data.Dataset`s of `(image, label)` pairs
that also know their class names, so they plug straight into a `DataLoader`.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

SHAPE_CLASSES = (
    "horizontal bar",
    "vertical bar",
    "diagonal \\",
    "diagonal /",
    "plus",
    "cross",
    "square outline",
    "filled square",
    "ring",
    "disk",
)


class ImageSet(Dataset):
    """Images and integer labels held in memory, with the names of the classes.

    Args:
        images: Float tensor shaped (N, C, H, W).
        labels: Integer tensor shaped (N,), each in `range(len(classes))`.
        classes: The class names; `classes[label]` names a label.

    Raises:
        ValueError: If the shapes or labels do not fit together.

    Examples:
        >>> import torch
        >>> data = ImageSet(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 1, 0]), ["a", "b"])
        >>> len(data)
        4
        >>> image, label = data[1]
        >>> image.shape, label.item()
        (torch.Size([1, 8, 8]), 1)
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]) -> None:
        self.images, self.labels, self.classes = check_labelled(images, labels, classes, "images", "(N, C, H, W)")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one image, (C, H, W)."""
        return tuple(self.images.shape[1:])

    def class_counts(self) -> dict[str, int]:
        """How many images each class has, by class name."""
        return count_classes(self.labels, self.classes)


def check_labelled(
    inputs: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], name: str, layout: str
) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """Check that inputs, labels and class names fit together; return them as float, long and tuple.

    Shared by the in-memory data sets (`ImageSet`, `sequences.SequenceSet`).

    Args:
        inputs: The samples, stacked along the first dimension.
        labels: One integer label per sample.
        classes: The class names.
        name: What the inputs are, for error messages ("images").
        layout: Their expected layout, e.g. "(N, C, H, W)"; its number of letters is the number of dimensions.

    Raises:
        ValueError: If `inputs` has the wrong number of dimensions, `labels` the
            wrong shape, or a label has no class name.

    Examples:
        >>> x, y, names = check_labelled(torch.zeros(2, 5), torch.tensor([0, 1]), ["a", "b"], "rows", "(N, F)")
        >>> x.dtype, y.dtype, names
        (torch.float32, torch.int64, ('a', 'b'))
        >>> check_labelled(torch.zeros(2, 5), torch.tensor([0, 2]), ["a", "b"], "rows", "(N, F)")
        Traceback (most recent call last):
            ...
        ValueError: labels must lie in 0..1 for 2 classes, got 0..2
    """
    if inputs.dim() != layout.count(",") + 1:
        raise ValueError(f"{name} must be shaped {layout}, got {tuple(inputs.shape)}")
    if labels.shape != (inputs.shape[0],):
        raise ValueError(
            f"labels must be shaped ({inputs.shape[0]},) to match the {name}, got {tuple(labels.shape)}"
        )
    classes = tuple(classes)
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(classes):
        raise ValueError(
            f"labels must lie in 0..{len(classes) - 1} for {len(classes)} classes, "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    return inputs.float(), labels.long(), classes


def count_classes(labels: torch.Tensor, classes: Sequence[str]) -> dict[str, int]:
    """How many samples each class has, by class name.

    Examples:
        >>> count_classes(torch.tensor([0, 2, 2]), ["a", "b", "c"])
        {'a': 1, 'b': 0, 'c': 2}
    """
    counts = torch.bincount(labels, minlength=len(classes))
    return {name: int(n) for name, n in zip(classes, counts)}


def load_digits(split: str, test_fraction: float = 0.25, seed: int = 0) -> ImageSet:
    """Scikit-learn's 1,797 handwritten digits (8×8, grey) as an `ImageSet`.

    The data ships inside scikit-learn, so nothing is downloaded. Pixel values
    0–16 are scaled to 0–1. The split is stratified (every digit keeps its
    share) and fixed by `seed`: the same call always returns the same images.

    Args:
        split: `"train"` or `"test"`.
        test_fraction: Share of the images held out for testing.
        seed: Seed of the split.

    Returns:
        Images shaped (N, 1, 8, 8) with labels 0–9 and classes `"0"`…`"9"`.

    Raises:
        ValueError: If `split` is not `"train"` or `"test"`.

    Examples:
        >>> train, test = load_digits("train"), load_digits("test")
        >>> len(train), len(test), train.image_shape
        (1347, 450, (1, 8, 8))
        >>> float(train.images.max())
        1.0
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    check_split(split)
    digits = sklearn_digits()
    images = digits.images.astype(np.float32) / 16.0
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed, stratify=digits.target
    )
    x, y = (train_x, train_y) if split == "train" else (test_x, test_y)
    return ImageSet(torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y), [str(d) for d in range(10)])


def make_shapes(num_images: int, seed: int = 0, size: int = 32) -> ImageSet:
    """Generate colored shapes on noisy backgrounds, 10 classes, 3×size×size.

    Each image holds one shape (bar, diagonal, plus, cross, square, ring, …)
    of random size, position and color on a random dark background with
    noise. Because the shape can be anywhere, a model has to recognise a
    *local pattern* wherever it appears, which is what convolutions are good
    at and what a linear model on raw pixels is not. Classes are balanced.

    The same `num_images`, `seed` and `size` always give the same tensors.

    Args:
        num_images: How many images.
        seed: Seed of the generator; use different seeds for train and test.
        size: Height and width in pixels (32 matches `SimpleCNN`).

    Returns:
        Images shaped (num_images, 3, size, size) with values in [0, 1].

    Raises:
        ValueError: If `num_images` < 1 or `size` < 16.

    Examples:
        >>> shapes = make_shapes(20, seed=0)
        >>> shapes.images.shape
        torch.Size([20, 3, 32, 32])
        >>> shapes.classes[:3]
        ('horizontal bar', 'vertical bar', 'diagonal \\\\')
        >>> bool(torch.equal(shapes.images, make_shapes(20, seed=0).images))
        True
    """
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    n = num_images
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES))

    radius = rng.uniform(0.15, 0.3, size=n) * size  # half the shape's width
    margin = radius + 1
    cx = rng.uniform(margin, size - 1 - margin).astype(np.float32)
    cy = rng.uniform(margin, size - 1 - margin).astype(np.float32)
    thickness = rng.uniform(1.0, 2.0, size=n).astype(np.float32)
    radius = radius.astype(np.float32)

    grid = np.arange(size, dtype=np.float32)
    mask = np.empty((n, 1, size, size), dtype=np.float32)
    for label, draw in enumerate(_SHAPE_MASKS):
        chosen = labels == label
        dx = grid[None, None, :] - cx[chosen, None, None]
        dy = grid[None, :, None] - cy[chosen, None, None]
        r, t = radius[chosen, None, None], thickness[chosen, None, None]
        mask[chosen, 0] = draw(dx, dy, r, t)

    foreground = torch.from_numpy(rng.uniform(0.5, 1.0, size=(n, 3, 1, 1)).astype(np.float32))
    background = torch.from_numpy(rng.uniform(0.0, 0.35, size=(n, 3, 1, 1)).astype(np.float32))
    clean = torch.lerp(background, foreground, torch.from_numpy(mask))
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    images = (clean + 0.08 * noise).clamp_(0.0, 1.0)
    return ImageSet(images, torch.from_numpy(labels), SHAPE_CLASSES)


def _bar(along, across, r, t):
    return (np.abs(across) <= t / 2 + 0.5) & (np.abs(along) <= r)


def _diagonal(dx, dy, r, t, sign):
    return (np.abs(dx - sign * dy) <= t) & (np.abs(dx) <= r) & (np.abs(dy) <= r)


def _outline(distance, r, t):
    return (distance <= r) & (distance >= r - t)


# One function per class, in the order of SHAPE_CLASSES: (dx, dy, radius, thickness) -> mask.
_SHAPE_MASKS = (
    lambda dx, dy, r, t: _bar(dx, dy, r, t),
    lambda dx, dy, r, t: _bar(dy, dx, r, t),
    lambda dx, dy, r, t: _diagonal(dx, dy, r, t, sign=1),
    lambda dx, dy, r, t: _diagonal(dx, dy, r, t, sign=-1),
    lambda dx, dy, r, t: _bar(dx, dy, r, t) | _bar(dy, dx, r, t),
    lambda dx, dy, r, t: _diagonal(dx, dy, r, t, 1) | _diagonal(dx, dy, r, t, -1),
    lambda dx, dy, r, t: _outline(np.maximum(np.abs(dx), np.abs(dy)), r, t),
    lambda dx, dy, r, t: np.maximum(np.abs(dx), np.abs(dy)) <= r,
    lambda dx, dy, r, t: _outline(np.hypot(dx, dy), r, t),
    lambda dx, dy, r, t: np.hypot(dx, dy) <= r,
)


def check_split(split: str) -> None:
    """Raise a clear error unless `split` is `"train"` or `"test"` (shared by the data set loaders).

    Examples:
        >>> check_split("validation")
        Traceback (most recent call last):
            ...
        ValueError: split must be "train" or "test", got 'validation'
    """
    if split not in ("train", "test"):
        raise ValueError(f'split must be "train" or "test", got {split!r}')

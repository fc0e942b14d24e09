"""The bundled digits, the generated shapes and the `ImageSet` container."""

from collections import Counter

import numpy as np
import pytest
import sklearn.datasets
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cnn_tutorial.data import SHAPE_CLASSES, ImageSet, load_digits, make_shapes


# ---------------------------------------------------------------- load_digits


@pytest.fixture(scope="module")
def sklearn_digits():
    return sklearn.datasets.load_digits()


@pytest.fixture(scope="module")
def digits():
    return load_digits("train"), load_digits("test")


def rows(images):
    return [row.numpy().tobytes() for row in images]


def test_split_sizes(digits, sklearn_digits):
    train, test = digits
    assert (len(train), len(test)) == (1347, 450)
    assert len(train) + len(test) == len(sklearn_digits.target) == 1797
    assert train.image_shape == test.image_shape == (1, 8, 8)
    assert train.images.shape == (1347, 1, 8, 8)
    assert train.classes == test.classes == tuple(str(d) for d in range(10))


def test_train_and_test_partition_the_original_data(digits, sklearn_digits):
    train, test = digits
    train_rows, test_rows = set(rows(train.images)), set(rows(test.images))
    # Natural duplicates (identical scans) could sit on both sides; allow a few.
    assert len(train_rows & test_rows) <= 5
    # Together the two splits are exactly the original images with their labels.
    original = Counter(
        (img.tobytes(), int(label))
        for img, label in zip((sklearn_digits.images / 16.0).astype(np.float32), sklearn_digits.target)
    )
    ours = Counter(
        (img.tobytes(), int(label))
        for split in digits
        for img, label in zip(split.images[:, 0].numpy(), split.labels)
    )
    assert ours == original


def test_stratified(digits, sklearn_digits):
    train, test = digits
    totals = np.bincount(sklearn_digits.target, minlength=10)
    test_counts = np.array(list(test.class_counts().values()))
    train_counts = np.array(list(train.class_counts().values()))
    assert (test_counts + train_counts == totals).all()
    # Every digit keeps its share of the test set, up to rounding.
    assert np.abs(test_counts - totals * 0.25).max() <= 1
    # class_counts agrees with a plain count of the labels.
    assert dict(Counter(str(int(y)) for y in test.labels)) == test.class_counts()


def test_values_scaled_to_unit_range(digits):
    for split in digits:
        assert split.images.dtype == torch.float32
        assert split.labels.dtype == torch.int64
        assert float(split.images.min()) == 0.0
        assert float(split.images.max()) == 1.0
        # Pixel values were integers 0..16, so 16 * value is an integer.
        scaled = split.images * 16
        assert torch.equal(scaled, scaled.round())


def test_deterministic_and_seeded(digits):
    train, _ = digits
    again = load_digits("train")
    assert torch.equal(train.images, again.images)
    assert torch.equal(train.labels, again.labels)
    other = load_digits("train", seed=1)
    assert not torch.equal(train.labels, other.labels)


def test_test_fraction():
    train, test = load_digits("train", test_fraction=0.5), load_digits("test", test_fraction=0.5)
    assert len(train) + len(test) == 1797
    assert abs(len(test) - 1797 / 2) <= 1


@pytest.mark.parametrize("split", ["val", "Train", "", None])
def test_bad_split(split):
    with pytest.raises(ValueError, match="train.*test") as info:
        load_digits(split)
    assert repr(split) in str(info.value)


# ---------------------------------------------------------------- make_shapes


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(200, seed=3)


def test_shapes_shape_dtype_range(shapes):
    assert shapes.images.shape == (200, 3, 32, 32)
    assert shapes.images.dtype == torch.float32
    assert shapes.labels.shape == (200,)
    assert shapes.labels.dtype == torch.int64
    assert shapes.images.min() >= 0.0 and shapes.images.max() <= 1.0
    assert shapes.classes == SHAPE_CLASSES
    assert len(set(shapes.classes)) == 10
    # Not blank: every image has contrast.
    assert (shapes.images.flatten(1).std(dim=1) > 0.05).all()


def test_shapes_other_size():
    data = make_shapes(3, seed=0, size=16)
    assert data.images.shape == (3, 3, 16, 16)
    assert data.image_shape == (3, 16, 16)


@pytest.mark.parametrize("n", [10, 25, 37, 200])
def test_shapes_classes_balanced(n):
    counts = Counter(int(y) for y in make_shapes(n, seed=1).labels)
    assert sum(counts.values()) == n
    expected = [n // 10 + (1 if c < n % 10 else 0) for c in range(10)]
    # Which classes get the extra image is not fixed, only how many do.
    assert sorted((counts.get(c, 0) for c in range(10)), reverse=True) == expected


def test_shapes_labels_are_shuffled(shapes):
    # Not simply 0, 1, 2, ..., 9, 0, 1, ...
    assert not torch.equal(shapes.labels, torch.arange(200) % 10)


def test_shapes_deterministic_per_seed(shapes):
    again = make_shapes(200, seed=3)
    assert torch.equal(shapes.images, again.images)
    assert torch.equal(shapes.labels, again.labels)
    other = make_shapes(200, seed=4)
    assert not torch.equal(shapes.images, other.images)
    assert not torch.equal(shapes.labels, other.labels)


def foreground_coordinates(image):
    """x and y of the pixels that differ from the background (the median colour)."""
    background = image.flatten(1).median(dim=1).values[:, None, None]
    smooth = F.avg_pool2d(image[None], 3, 1, 1, count_include_pad=False)[0]
    ys, xs = torch.nonzero((smooth - background).norm(dim=0) > 0.13, as_tuple=True)
    return xs.float(), ys.float()


def test_shapes_look_like_their_class(shapes):
    """Independent of the drawing code: measure the bright pixels' layout."""
    checked = Counter()
    for image, label in zip(shapes.images, shapes.labels):
        name = shapes.classes[label]
        x, y = foreground_coordinates(image)
        assert len(x) >= 10, name
        corr = torch.corrcoef(torch.stack([x, y]))[0, 1]
        if name == "horizontal bar":
            assert x.std() > y.std(), name
        elif name == "vertical bar":
            assert y.std() > x.std(), name
        elif name == "diagonal \\":  # top-left to bottom-right (y grows downward)
            assert corr > 0, name
        elif name == "diagonal /":
            assert corr < 0, name
        else:
            continue
        checked[name] += 1
    assert len(checked) == 4 and min(checked.values()) >= 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_images=0), "num_images"),
        (dict(num_images=-5), "num_images"),
        (dict(num_images=10, size=15), "size"),
        (dict(num_images=10, size=0), "size"),
    ],
)
def test_shapes_bad_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)


# ---------------------------------------------------------------- ImageSet


def test_imageset_basics():
    images = torch.arange(4 * 8 * 8, dtype=torch.uint8).reshape(4, 1, 8, 8)
    labels = torch.tensor([0, 2, 2, 1], dtype=torch.int32)
    data = ImageSet(images, labels, ["a", "b", "c"])
    assert len(data) == 4
    assert data.images.dtype == torch.float32 and data.labels.dtype == torch.int64
    image, label = data[1]
    assert torch.equal(image, images[1].float())
    assert int(label) == 2
    assert data.class_counts() == {"a": 1, "b": 1, "c": 2}
    assert data.classes == ("a", "b", "c")


def test_imageset_counts_unused_classes():
    data = ImageSet(torch.zeros(2, 1, 4, 4), torch.tensor([0, 0]), ["x", "y", "z"])
    assert data.class_counts() == {"x": 2, "y": 0, "z": 0}


@pytest.mark.parametrize(
    "images, labels, fragments",
    [
        (torch.zeros(4, 8, 8), torch.zeros(4, dtype=torch.long), ["(N, C, H, W)", "(4, 8, 8)"]),
        (torch.zeros(2, 4, 1, 8, 8), torch.zeros(2, dtype=torch.long), ["(N, C, H, W)", "(2, 4, 1, 8, 8)"]),
        (torch.zeros(4, 1, 8, 8), torch.zeros(3, dtype=torch.long), ["(4,)", "(3,)"]),
        (torch.zeros(4, 1, 8, 8), torch.zeros(4, 1, dtype=torch.long), ["(4,)", "(4, 1)"]),
        (torch.zeros(2, 1, 8, 8), torch.tensor([0, 2]), ["0..1", "2 classes", "0..2"]),
        (torch.zeros(2, 1, 8, 8), torch.tensor([-1, 1]), ["0..1", "-1..1"]),
    ],
)
def test_imageset_validation_messages(images, labels, fragments):
    with pytest.raises(ValueError) as info:
        ImageSet(images, labels, ["a", "b"])
    for fragment in fragments:
        assert fragment in str(info.value)


def test_imageset_in_a_dataloader(shapes):
    loader = DataLoader(shapes, batch_size=64, shuffle=False)
    batches = list(loader)
    assert [len(labels) for _, labels in batches] == [64, 64, 64, 8]
    images, labels = batches[0]
    assert images.shape == (64, 3, 32, 32) and labels.shape == (64,)
    assert labels.dtype == torch.int64
    assert torch.equal(torch.cat([x for x, _ in batches]), shapes.images)
    assert torch.equal(torch.cat([y for _, y in batches]), shapes.labels)

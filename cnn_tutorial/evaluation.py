"""Experiment harness for measuring generalization: hold-out and k-fold validation, learning curves.

中文：衡量泛化能力的实验工具：留出法与 k 折交叉验证、学习曲线。

The chapters on the machine-learning workflow and on machine learning versus
deep learning ask the same question in several ways: *how accurate is this
model on images it has never seen?* The tools here all follow one contract.
A **scorer** is a function `scorer(train, held_out) -> accuracy` that builds a
fresh model, trains it on `train` and returns its accuracy on `held_out`.
`sklearn_scorer` makes one for a scikit-learn estimator (the chapters write
their own for PyTorch networks); `cross_validate` and `learning_curve` call a
scorer on different splits of the data.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cnn_tutorial.data import ImageSet

Scorer = Callable[[ImageSet, ImageSet], float]
"""`scorer(train, held_out)`: train a fresh model on `train`, return its accuracy on `held_out`."""


def subset(dataset: ImageSet, indices: Sequence[int]) -> ImageSet:
    """The images of `dataset` at `indices`, as a new `ImageSet` with the same classes.

    Args:
        dataset: Where to take the images from.
        indices: Positions: a list, a NumPy array or an integer tensor.

    Returns:
        An `ImageSet` holding `len(indices)` images, in the order of `indices`.

    Examples:
        >>> from cnn_tutorial.data import load_digits
        >>> small = subset(load_digits("test"), [0, 5, 7])
        >>> len(small), small.classes[:3]
        (3, ('0', '1', '2'))
    """
    index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    return ImageSet(dataset.images[index], dataset.labels[index], dataset.classes)


def holdout_split(dataset: ImageSet, fraction: float = 0.25, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Split a data set once into a training part and a validation part, stratified.

    Stratified: every class keeps (as nearly as possible) its share in both
    parts. The split is fixed by `seed`.

    Args:
        dataset: The data to split (a training set; the test set stays apart).
        fraction: Share of the images that go to the validation part, in (0, 1).
        seed: Seed of the split.

    Returns:
        `(train, validation)`.

    Raises:
        ValueError: If `fraction` is not strictly between 0 and 1.

    Examples:
        >>> from cnn_tutorial.data import load_digits
        >>> train, val = holdout_split(load_digits("train"), fraction=0.25)
        >>> len(train), len(val)
        (1010, 337)
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive), got {fraction}")
    positions = np.arange(len(dataset))
    train_idx, val_idx = train_test_split(
        positions, test_size=fraction, random_state=seed, stratify=dataset.labels.numpy()
    )
    return subset(dataset, train_idx), subset(dataset, val_idx)


def cross_validate(scorer: Scorer, dataset: ImageSet, k: int = 5, seed: int = 0) -> list[float]:
    """Stratified k-fold cross-validation: the validation accuracy of each of `k` folds.

    The data is cut into `k` parts (folds) with scikit-learn's
    `StratifiedKFold`; each fold serves once as the validation set while the
    other `k - 1` train a fresh model. Every image is used for validation
    exactly once.

    Args:
        scorer: `scorer(train, validation) -> accuracy`, see `Scorer`.
        dataset: The data to cross-validate on (never the test set).
        k: Number of folds, at least 2.
        seed: Seed of the shuffling before the data is cut into folds.

    Returns:
        `k` accuracies, one per fold, in fold order.

    Raises:
        ValueError: If `k` < 2 or a class has fewer than `k` images.

    Examples:
        >>> from sklearn.linear_model import LogisticRegression
        >>> from cnn_tutorial.data import load_digits
        >>> scores = cross_validate(sklearn_scorer(LogisticRegression(max_iter=1000)),
        ...                         load_digits("train"), k=3)
        >>> len(scores), all(0.9 < s < 1 for s in scores)
        (3, True)
    """
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise ValueError(f"k must be at least 2 folds, got {k}")
    labels = dataset.labels.numpy()
    smallest = int(np.bincount(labels).min()) if len(labels) else 0
    if smallest < k:
        raise ValueError(
            f"every class needs at least k={k} images for {k} folds; the smallest has {smallest}"
        )
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [
        scorer(subset(dataset, train_idx), subset(dataset, val_idx))
        for train_idx, val_idx in folds.split(np.zeros(len(labels)), labels)
    ]


def balanced_order(labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A shuffled order of the positions in which every prefix is (nearly) class-balanced.

    The positions are shuffled, then sorted by their rank within their own
    class: first one image of each class, then a second of each, and so on.
    Taking the first `n` positions therefore gives a balanced subset, and the
    subsets for growing `n` are nested (a larger one contains the smaller).

    Args:
        labels: Integer labels shaped (N,).
        seed: Seed of the shuffle.

    Returns:
        A permutation of `range(N)` as a long tensor.

    Examples:
        >>> order = balanced_order(torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> sorted(order.tolist())
        [0, 1, 2, 3, 4, 5]
        >>> torch.tensor([0, 0, 0, 1, 1, 1])[order[:2]].sort().values.tolist()  # one of each
        [0, 1]
    """
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(labels))
    shuffled_labels = labels.numpy()[shuffled]
    rank = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, label in enumerate(shuffled_labels.tolist()):
        rank[i] = seen.get(label, 0)
        seen[label] = rank[i] + 1
    return torch.from_numpy(shuffled[np.argsort(rank, kind="stable")])


def as_arrays(dataset: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """The images flattened into rows of features, and the labels, as NumPy arrays.

    This is the table a scikit-learn estimator expects: one row per image,
    one column per pixel.

    Args:
        dataset: An `ImageSet`.

    Returns:
        `(features, labels)` shaped (N, C·H·W) and (N,).

    Examples:
        >>> from cnn_tutorial.data import load_digits
        >>> x, y = as_arrays(load_digits("test"))
        >>> x.shape, y.shape
        ((450, 64), (450,))
    """
    return dataset.images.flatten(1).numpy(), dataset.labels.numpy()


def sklearn_scorer(estimator: Any) -> Scorer:
    """A scorer that trains a fresh copy of a scikit-learn classifier on the flattened images.

    Args:
        estimator: An unfitted scikit-learn classifier, e.g. `LogisticRegression()`.
            It is cloned for every call, so calls do not influence each other.

    Returns:
        `scorer(train, held_out) -> accuracy`.

    Raises:
        TypeError: If `estimator` has no `fit` and `score` methods.

    Examples:
        >>> from sklearn.dummy import DummyClassifier
        >>> from cnn_tutorial.data import load_digits
        >>> guess = sklearn_scorer(DummyClassifier(strategy="most_frequent"))
        >>> round(guess(load_digits("train"), load_digits("test")), 3)  # always the commonest digit
        0.102
    """
    from sklearn.base import clone

    if not (hasattr(estimator, "fit") and hasattr(estimator, "score")):
        raise TypeError(
            f"estimator must be a scikit-learn classifier with fit and score, got {type(estimator).__name__}"
        )

    def scorer(train: ImageSet, held_out: ImageSet) -> float:
        model = clone(estimator).fit(*as_arrays(train))
        return float(model.score(*as_arrays(held_out)))

    return scorer


@dataclass
class LearningCurve:
    """Test accuracy of several methods at several training-set sizes.

    Attributes:
        sizes: The training-set sizes, ascending.
        accuracy: Method name → one accuracy per size.
        seconds: Method name → wall-clock seconds spent per size (training and
            scoring). Timings vary from run to run and machine to machine.
    """

    sizes: list[int]
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def table(self) -> str:
        """The accuracies as a plain-text table: one row per size, one column per method."""
        names = list(self.accuracy)
        width = max([10, *(len(n) + 2 for n in names)])
        rows = [f"{'size':>6}" + "".join(f"{n:>{width}}" for n in names)]
        for i, size in enumerate(self.sizes):
            rows.append(f"{size:6d}" + "".join(f"{self.accuracy[n][i]:>{width}.1%}" for n in names))
        return "\n".join(rows)


def learning_curve(
    scorers: dict[str, Scorer],
    train_set: ImageSet,
    test_set: ImageSet,
    sizes: Sequence[int],
    seed: int = 0,
) -> LearningCurve:
    """Train every method on growing, nested, class-balanced subsets; score each on one test set.

    The subsets are prefixes of `balanced_order(train_set.labels, seed)`, so
    the 100-image subset is part of the 200-image one, and all methods see
    exactly the same images at every size. The test set never changes.

    Args:
        scorers: Method name → `scorer(train, test) -> accuracy`.
        train_set: The pool the training subsets are drawn from.
        test_set: Scored at every size, the same images each time.
        sizes: Training-set sizes; each between 1 and `len(train_set)`.
        seed: Seed of the order the subsets are taken in.

    Returns:
        A `LearningCurve` with the sizes sorted ascending.

    Raises:
        ValueError: If `scorers` or `sizes` is empty, or a size is out of range.

    Examples:
        >>> from sklearn.neighbors import KNeighborsClassifier
        >>> from cnn_tutorial.data import load_digits
        >>> curve = learning_curve({"1-NN": sklearn_scorer(KNeighborsClassifier(1))},
        ...                        load_digits("train"), load_digits("test"), sizes=[500, 20])
        >>> curve.sizes
        [20, 500]
        >>> acc = curve.accuracy["1-NN"]
        >>> acc[0] < acc[1]  # more examples, better nearest neighbors
        True
    """
    if not scorers:
        raise ValueError("scorers is empty; give at least one method")
    sizes = sorted(int(s) for s in sizes)
    if not sizes or sizes[0] < 1 or sizes[-1] > len(train_set):
        raise ValueError(f"sizes must be non-empty and lie in 1..{len(train_set)}, got {sizes}")
    order = balanced_order(train_set.labels, seed)
    curve = LearningCurve(sizes, {name: [] for name in scorers}, {name: [] for name in scorers})
    for size in sizes:
        train = subset(train_set, order[:size])
        for name, scorer in scorers.items():
            start = time.perf_counter()
            curve.accuracy[name].append(scorer(train, test_set))
            curve.seconds[name].append(time.perf_counter() - start)
    return curve

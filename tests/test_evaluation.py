"""cnn_tutorial.evaluation: splits, k-fold, scikit-learn scorers, learning curves."""

import numpy as np
import pytest
import torch
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from cnn_tutorial.data import ImageSet, load_digits
from cnn_tutorial.evaluation import (
    LearningCurve,
    as_arrays,
    balanced_order,
    cross_validate,
    holdout_split,
    learning_curve,
    sklearn_scorer,
    subset,
)


def numbered(num_classes: int = 4, per_class: int = 10) -> ImageSet:
    """A data set whose image i holds the number i everywhere, so every image can be identified."""
    n = num_classes * per_class
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    labels = torch.arange(n) % num_classes
    return ImageSet(images, labels, [str(c) for c in range(num_classes)])


def ids(dataset: ImageSet) -> list[int]:
    return [int(v) for v in dataset.images[:, 0, 0, 0]]


@pytest.fixture(scope="module")
def digits():
    return load_digits("train"), load_digits("test")


# subset, holdout_split


@pytest.mark.parametrize("indices", [[3, 0, 7], np.array([3, 0, 7]), torch.tensor([3, 0, 7])])
def test_subset_keeps_the_order_of_the_indices_and_the_classes(indices):
    data = numbered()
    part = subset(data, indices)
    assert ids(part) == [3, 0, 7]
    assert part.labels.tolist() == [3, 0, 3]
    assert part.classes == data.classes


def test_holdout_split_is_disjoint_complete_stratified_and_seeded():
    data = numbered(num_classes=4, per_class=20)
    train, val = holdout_split(data, fraction=0.25, seed=3)
    assert len(train) == 60 and len(val) == 20
    assert sorted(ids(train) + ids(val)) == list(range(80))
    assert val.labels.bincount().tolist() == [5, 5, 5, 5]
    again_train, _ = holdout_split(data, fraction=0.25, seed=3)
    assert ids(again_train) == ids(train)
    other_train, _ = holdout_split(data, fraction=0.25, seed=4)
    assert ids(other_train) != ids(train)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_holdout_split_rejects_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        holdout_split(numbered(), fraction=fraction)


# cross_validate


def test_cross_validate_validates_every_image_exactly_once_on_disjoint_folds():
    data = numbered(num_classes=3, per_class=10)
    seen_val, calls = [], []

    def scorer(train, val):
        assert not set(ids(train)) & set(ids(val))
        assert len(train) + len(val) == len(data)
        assert val.labels.bincount(minlength=3).tolist() == [2, 2, 2]  # stratified
        seen_val.extend(ids(val))
        calls.append(len(val))
        return len(calls) / 10

    scores = cross_validate(scorer, data, k=5, seed=0)
    assert scores == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert sorted(seen_val) == list(range(30))


def test_cross_validate_checks_k_and_the_smallest_class():
    with pytest.raises(ValueError, match="k must be at least 2"):
        cross_validate(lambda a, b: 0.0, numbered(), k=1)
    with pytest.raises(ValueError, match="at least k=5 images.*smallest has 3"):
        cross_validate(lambda a, b: 0.0, numbered(per_class=3), k=5)


def test_cross_validated_majority_baseline_is_about_one_in_ten(digits):
    train, _ = digits
    scores = cross_validate(sklearn_scorer(DummyClassifier(strategy="most_frequent")), train, k=5)
    assert all(0.09 < s < 0.11 for s in scores)


# balanced_order


def test_balanced_order_is_a_seeded_permutation_with_balanced_prefixes():
    labels = torch.arange(40) % 4
    order = balanced_order(labels, seed=1)
    assert sorted(order.tolist()) == list(range(40))
    for m in range(1, 11):
        assert labels[order[: 4 * m]].bincount(minlength=4).tolist() == [m] * 4
    assert torch.equal(order, balanced_order(labels, seed=1))
    assert not torch.equal(order, balanced_order(labels, seed=2))


def test_balanced_order_with_unequal_classes_takes_each_class_until_it_runs_out():
    labels = torch.tensor([0] * 6 + [1] * 2)
    order = balanced_order(labels, seed=0)
    assert labels[order[:4]].bincount().tolist() == [2, 2]
    assert labels[order[4:]].tolist() == [0, 0, 0, 0]


# as_arrays, scorers


def test_as_arrays_flattens_images_into_rows(digits):
    _, test = digits
    x, y = as_arrays(test)
    assert x.shape == (450, 64) and y.shape == (450,)
    assert np.array_equal(x[0], test.images[0].flatten().numpy())
    assert np.array_equal(y, test.labels.numpy())


def test_sklearn_scorer_trains_a_clone_and_leaves_the_estimator_unfitted(digits):
    train, test = digits
    estimator = LogisticRegression(max_iter=1000)
    accuracy = sklearn_scorer(estimator)(train, test)
    assert 0.9 < accuracy <= 1.0
    assert not hasattr(estimator, "coef_")


def test_sklearn_scorer_rejects_objects_that_are_not_classifiers():
    with pytest.raises(TypeError, match="scikit-learn classifier with fit and score, got int"):
        sklearn_scorer(3)


# learning_curve


def test_learning_curve_uses_nested_balanced_subsets_and_one_test_set():
    data, test = numbered(num_classes=4, per_class=10), numbered(num_classes=4, per_class=2)
    trained_on = []

    def scorer(train, held_out):
        assert held_out is test
        trained_on.append(ids(train))
        return len(train) / 100

    curve = learning_curve({"a": scorer}, data, test, sizes=[40, 8, 20])
    assert curve.sizes == [8, 20, 40]
    assert curve.accuracy == {"a": [0.08, 0.2, 0.4]}
    assert len(curve.seconds["a"]) == 3
    for small, large in zip(trained_on, trained_on[1:]):
        assert set(small) < set(large)
    assert sorted(trained_on[-1]) == list(range(40))


def test_learning_curve_gives_every_method_the_same_images():
    data, test = numbered(), numbered(per_class=1)
    seen = {"a": [], "b": []}
    scorers = {name: (lambda train, _, name=name: seen[name].append(ids(train)) or 0.5) for name in seen}
    learning_curve(scorers, data, test, sizes=[4, 12])
    assert seen["a"] == seen["b"]


def test_learning_curve_checks_its_arguments():
    data = numbered()
    with pytest.raises(ValueError, match="scorers is empty"):
        learning_curve({}, data, data, sizes=[4])
    with pytest.raises(ValueError, match=r"sizes must be non-empty and lie in 1..40, got \[0\]"):
        learning_curve({"a": lambda a, b: 0.0}, data, data, sizes=[0])
    with pytest.raises(ValueError, match="lie in 1..40"):
        learning_curve({"a": lambda a, b: 0.0}, data, data, sizes=[41])


def test_learning_curve_table_has_one_row_per_size():
    table = LearningCurve([10, 100], {"SVM (RBF)": [0.5, 0.975], "MLP": [0.25, 0.9]}).table().splitlines()
    assert table[0].split() == ["size", "SVM", "(RBF)", "MLP"]
    assert table[1].split() == ["10", "50.0%", "25.0%"]
    assert table[2].split() == ["100", "97.5%", "90.0%"]

"""cnn_tutorial.boundaries: the two-moons data, class probabilities and decision-boundary plots."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from cnn_tutorial.boundaries import class_probabilities, plot_decision_boundary, two_moons

# two_moons


def test_two_moons_is_seeded_balanced_and_typed():
    points, labels = two_moons(101, noise=0.1, seed=4)
    assert points.shape == (101, 2) and points.dtype == torch.float32
    assert labels.dtype == torch.int64 and set(labels.tolist()) == {0, 1}
    again, _ = two_moons(101, noise=0.1, seed=4)
    other, _ = two_moons(101, noise=0.1, seed=5)
    assert torch.equal(points, again) and not torch.equal(points, other)


def test_two_moons_without_noise_lies_on_two_unit_half_circles():
    points, labels = two_moons(40, noise=0.0, seed=0)
    upper = points[labels == 0]
    lower = points[labels == 1] - torch.tensor([1.0, 0.5])
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper)), atol=1e-5)
    assert torch.allclose(lower.norm(dim=1), torch.ones(len(lower)), atol=1e-5)


@pytest.mark.parametrize(("kwargs", "message"), [(dict(num_points=1), "num_points must be >= 2"),
                                                 (dict(num_points=10, noise=-1), "noise must be >= 0")])
def test_two_moons_checks_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        two_moons(**kwargs)


# class_probabilities


@pytest.mark.parametrize("out_shape", ["flat", "column"])
def test_class_probabilities_of_a_binary_network_are_sigmoids(out_shape):
    linear = nn.Linear(2, 1)
    model = nn.Sequential(linear, nn.Flatten(0)) if out_shape == "flat" else linear
    x = torch.randn(6, 2)
    probs = class_probabilities(model, x)
    p = torch.sigmoid(linear(x)).detach().squeeze(1)
    assert probs.shape == (6, 2)
    assert torch.allclose(probs[:, 1], p) and torch.allclose(probs[:, 0], 1 - p)


def test_class_probabilities_of_a_multiclass_network_are_a_softmax_in_eval_mode():
    model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.9), nn.Linear(8, 3))
    model.train()
    x = torch.randn(5, 2)
    first, second = class_probabilities(model, x), class_probabilities(model, x)
    assert torch.equal(first, second)  # dropout was off
    assert torch.allclose(first.sum(dim=1), torch.ones(5))
    assert model.training  # the mode is restored


def test_class_probabilities_of_scikit_learn_classifiers():
    from sklearn.linear_model import LogisticRegression

    points, labels = two_moons(60, seed=0)
    fitted = LogisticRegression().fit(points.numpy(), labels.numpy())
    probs = class_probabilities(fitted, points)
    assert np.allclose(probs.numpy(), fitted.predict_proba(points.numpy()), atol=1e-6)

    class PredictOnly:
        def predict(self, x):
            return (x[:, 0] > 0).astype(int)

    hard = class_probabilities(PredictOnly(), torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
    assert hard.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_class_probabilities_rejects_other_objects():
    with pytest.raises(TypeError, match="nn.Module or a scikit-learn classifier, got str"):
        class_probabilities("model", torch.zeros(1, 2))


# plot_decision_boundary


def test_plot_decision_boundary_binary_draws_the_half_probability_line():
    points, labels = two_moons(50, seed=0)
    fig = plot_decision_boundary(nn.Linear(2, 1), points, labels, resolution=30, title="binary")
    ax = fig.axes[0]
    assert ax.get_title() == "binary"
    assert ax.get_xlabel() == "$x_1$"
    assert len(ax.collections[-1].get_offsets()) == 50  # the scattered points
    plt.close(fig)


def test_plot_decision_boundary_multiclass_into_given_axes():
    fig, axes = plt.subplots(1, 2)
    points = torch.randn(30, 2)
    labels = torch.arange(30) % 3
    returned = plot_decision_boundary(nn.Linear(2, 3), points, labels, ax=axes[1], resolution=20)
    assert returned is fig
    assert axes[1].collections and not axes[0].collections
    plt.close(fig)


def test_plot_decision_boundary_needs_two_features():
    with pytest.raises(ValueError, match=r"points must be shaped \(N, 2\), got \(4, 3\)"):
        plot_decision_boundary(nn.Linear(3, 1), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))

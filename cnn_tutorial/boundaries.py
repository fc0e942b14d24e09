"""Two-dimensional classification: the two-moons data and pictures of decision boundaries.

With only two input features, every point of the plane is a possible input,
so a classifier can be drawn: colour each point of a fine grid by what the
model predicts there. The line where the prediction changes is the
*decision boundary*. A linear model can only draw a straight line; a network
with a hidden layer can bend it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

import numpy as np
import torch
from torch import nn


def two_moons(num_points: int, noise: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles in the plane, one per class (scikit-learn's `make_moons`).

    No straight line separates the two classes, so a linear model cannot
    classify them all; a small network can.

    Args:
        num_points: Total number of points (split evenly between the classes).
        noise: Standard deviation of the Gaussian noise added to each point.
        seed: Seed of the generator; the same arguments give the same points.

    Returns:
        `(points, labels)`: float32 shaped (num_points, 2) and int64 shaped (num_points,) with values 0 and 1.

    Raises:
        ValueError: If `num_points` < 2 or `noise` < 0.

    Examples:
        >>> points, labels = two_moons(100, seed=0)
        >>> points.shape, points.dtype, labels.bincount().tolist()
        (torch.Size([100, 2]), torch.float32, [50, 50])
    """
    from sklearn.datasets import make_moons

    if num_points < 2:
        raise ValueError(f"num_points must be >= 2, got {num_points}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    points, labels = make_moons(n_samples=num_points, noise=noise, random_state=seed)
    return torch.from_numpy(points.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def class_probabilities(model: "nn.Module | Any", points: torch.Tensor) -> torch.Tensor:
    """Probabilities of each class for each point, from a PyTorch model or a scikit-learn classifier.

    A PyTorch model must return logits: one column (or a flat vector) for a
    binary classifier, read through a sigmoid as the probability of class 1;
    several columns for several classes, read through a softmax. A
    scikit-learn classifier is asked for `predict_proba`, or, without it, for
    `predict` (probability 1 for the predicted class).

    Args:
        model: An `nn.Module` returning logits, or a fitted scikit-learn classifier.
        points: Inputs shaped (N, features).

    Returns:
        Float tensor shaped (N, classes) whose rows sum to 1.

    Raises:
        TypeError: If `model` is neither an `nn.Module` nor has `predict`.

    Examples:
        >>> binary = nn.Linear(2, 1)
        >>> class_probabilities(binary, torch.zeros(3, 2)).shape
        torch.Size([3, 2])
        >>> probs = class_probabilities(nn.Linear(2, 4), torch.randn(5, 2))
        >>> probs.shape, torch.allclose(probs.sum(dim=1), torch.ones(5))
        (torch.Size([5, 4]), True)
    """
    if isinstance(model, nn.Module):
        was_training = model.training
        model.eval()
        with torch.no_grad():
            logits = model(points)
        model.train(was_training)
        if logits.dim() == 1 or logits.shape[1] == 1:
            p = torch.sigmoid(logits.reshape(-1))
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(logits, dim=1)
    if hasattr(model, "predict_proba"):
        return torch.as_tensor(model.predict_proba(points.numpy()), dtype=torch.float32)
    if hasattr(model, "predict"):
        predicted = torch.as_tensor(model.predict(points.numpy()), dtype=torch.long)
        return nn.functional.one_hot(predicted, int(predicted.max()) + 1).float()
    raise TypeError(f"model must be an nn.Module or a scikit-learn classifier, got {type(model).__name__}")


def plot_decision_boundary(
    model: "nn.Module | Any",
    points: torch.Tensor,
    labels: torch.Tensor,
    ax: "Axes | None" = None,
    resolution: int = 200,
    title: str | None = None,
) -> "Figure":
    """Colour the plane by the model's prediction and draw the data on top.

    For two classes the colour shows the probability of class 1 (blue 0 to
    red 1) and a black line marks where it crosses 0.5: the decision
    boundary. For more classes each region takes the colour of its predicted
    class and black lines separate the regions.

    Args:
        model: An `nn.Module` returning logits, or a fitted scikit-learn classifier
            (see `class_probabilities`).
        points: The data, shaped (N, 2).
        labels: Integer classes shaped (N,).
        ax: Draw into these axes; `None` makes a new figure.
        resolution: Grid points along each axis.
        title: Optional title of the axes.

    Returns:
        The `matplotlib.figure.Figure` the axes belong to.

    Raises:
        ValueError: If `points` is not shaped (N, 2).

    Examples:
        >>> points, labels = two_moons(40, seed=0)
        >>> fig = plot_decision_boundary(nn.Linear(2, 1), points, labels, resolution=20, title="linear")
        >>> fig.axes[0].get_title()
        'linear'
    """
    import matplotlib.pyplot as plt

    import cnn_tutorial.plotting  # noqa: F401  (registers the Chinese font)

    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be shaped (N, 2), got {tuple(points.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.8), layout="constrained")
    low = points.min(dim=0).values - 0.5
    high = points.max(dim=0).values + 0.5
    xs = torch.linspace(float(low[0]), float(high[0]), resolution)
    ys = torch.linspace(float(low[1]), float(high[1]), resolution)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    grid = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    probs = class_probabilities(model, grid)
    labels = labels.reshape(-1)
    if probs.shape[1] == 2:
        surface = probs[:, 1].reshape(resolution, resolution)
        ax.contourf(grid_x, grid_y, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
        ax.contour(grid_x, grid_y, surface, levels=[0.5], colors="black", linewidths=1.5)
        colors = np.array(["#2166ac", "#b2182b"])[labels.numpy() % 2]
    else:
        cmap = plt.get_cmap("tab10")
        predicted = probs.argmax(dim=1).reshape(resolution, resolution)
        count = probs.shape[1]
        ax.contourf(grid_x, grid_y, predicted, levels=np.arange(count + 1) - 0.5,
                    colors=[cmap(i) for i in range(count)], alpha=0.3)
        ax.contour(grid_x, grid_y, predicted, levels=np.arange(count) + 0.5, colors="black", linewidths=1)
        colors = [cmap(int(i)) for i in labels]
    ax.scatter(points[:, 0], points[:, 1], c=colors, s=14, edgecolors="white", linewidths=0.5)
    ax.set_xlim(float(low[0]), float(high[0]))
    ax.set_ylim(float(low[1]), float(high[1]))
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax.figure

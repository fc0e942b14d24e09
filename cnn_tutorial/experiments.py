"""Controlled experiments: train one fresh model per configuration, compare them on one validation set.

The chapter on training a convnet from scratch asks one question many times:
*does this change help?* To answer it fairly, every configuration must start
from the same initial weights, see the training images in the same order and
be measured on the same validation images; only the change under test may
differ. `compare` does exactly that and returns one `Run` per configuration;
`results_table` prints them side by side.

`DenseHeadCNN` is the model that needs the help: `SimpleCNN`'s design
(convolution blocks, then flatten and fully connected layers) with a dropout
switch. Its flattened head gives every pixel position its own weights, which
is what lets it memorise a small training set.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: matplotlib is imported when a plot is drawn
    from matplotlib.figure import Figure

import torch
from torch import nn
from torch.utils.data import DataLoader

from cnn_tutorial.augment import Augment
from cnn_tutorial.data import ImageSet
from cnn_tutorial.training import SCHEDULES, History, evaluate, fit, set_seed


class DenseHeadCNN(nn.Module):
    """Convolution blocks, then flatten → dropout → two fully connected layers.

    With the defaults it is `SimpleCNN` layer for layer (one 3×3 convolution
    with 18 channels, 2×2 max pooling, `Linear(4608, 64)`, `Linear(64, 10)`,
    296,130 parameters), plus a dropout layer between the flattened feature
    maps and the first fully connected layer. `dropout=0` makes that layer do
    nothing.

    Each block is `Conv2d(3×3, padding 1) → ReLU → MaxPool2d(2)`.

    Args:
        in_channels: Channels of the input images.
        num_classes: Number of output scores.
        widths: Output channels of each convolution block.
        hidden: Neurons in the hidden fully connected layer.
        image_size: Height and width of the input images (the flattened size depends on it).
        dropout: Probability of zeroing each flattened feature during training.

    Raises:
        ValueError: If `dropout` is not in [0, 1) or `image_size` does not
            survive the poolings.

    Examples:
        >>> model = DenseHeadCNN()
        >>> model(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> sum(p.numel() for p in model.parameters())  # the same as SimpleCNN
        296130
        >>> DenseHeadCNN(widths=(16, 32), hidden=32).classifier[2]
        Linear(in_features=2048, out_features=32, bias=True)
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: tuple[int, ...] = (18,),
        hidden: int = 64,
        image_size: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_dropout(dropout)
        side = image_size // 2 ** len(widths)
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for {len(widths)} poolings")
        layers, channels = [], in_channels
        for width in widths:  # Conv2d(3×3, padding 1) → ReLU → MaxPool2d(2), as in models.ConvNet
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(widths[-1] * side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits shaped (N, num_classes) for images shaped (N, in_channels, image_size, image_size)."""
        if x.dim() != 4:
            raise ValueError(f"DenseHeadCNN expects a batch shaped (N, C, H, W), got {tuple(x.shape)}")
        return self.classifier(self.features(x))


@dataclass(frozen=True)
class Config:
    """One training configuration: the regularisers switched on, and a name for the table.

    Args:
        name: Shown in the results table; must be unique within a comparison.
        dropout: Passed to the model factory (see `compare`).
        weight_decay: Passed to `fit` (decoupled, AdamW).
        schedule: Passed to `fit`: `None`, `"cosine"` or `"step"`.
        augment: A function of no arguments that *makes* an augmentation, e.g.
            `lambda: random_shift(3)`. A factory rather than the augmentation
            itself because augmentations hold a random generator: each run
            needs a fresh one, seeded the same way, or the second run would
            see different shifts from the first.

    Raises:
        ValueError: For an empty name, a dropout outside [0, 1), a negative
            weight decay or an unknown schedule.

    Examples:
        >>> Config("baseline")
        Config(name='baseline', dropout=0.0, weight_decay=0.0, schedule=None, augment=None)
        >>> Config("too much", dropout=1.0)
        Traceback (most recent call last):
            ...
        ValueError: dropout must lie in [0, 1), got 1.0
    """

    name: str
    dropout: float = 0.0
    weight_decay: float = 0.0
    schedule: str | None = None
    augment: Callable[[], Augment] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a configuration needs a name")
        _check_dropout(self.dropout)
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")


@dataclass
class Run:
    """The outcome of training one configuration.

    Attributes:
        config: What was trained.
        model: The trained model (in evaluation mode).
        history: `fit`'s per-epoch record; its `test_*` lists hold the
            *validation* loss and accuracy.
        train_accuracy: Accuracy on the un-augmented training images after
            the last epoch, with dropout off. Unlike
            `history.train_accuracy`, which is counted on augmented batches
            while dropout is on, it is measured the same way as the
            validation accuracy, so the two can be subtracted.
    """

    config: Config
    model: nn.Module
    history: History
    train_accuracy: float

    @property
    def val_accuracy(self) -> float:
        """Validation accuracy after the last epoch."""
        return self.history.test_accuracy[-1]

    @property
    def best_epoch(self) -> int:
        """The epoch (counting from 1) with the highest validation accuracy; the first one on ties."""
        accuracies = self.history.test_accuracy
        return accuracies.index(max(accuracies)) + 1

    @property
    def best_val_accuracy(self) -> float:
        """The highest validation accuracy of any epoch."""
        return max(self.history.test_accuracy)

    @property
    def gap(self) -> float:
        """`train_accuracy - val_accuracy`: how much better the model does on images it has seen."""
        return self.train_accuracy - self.val_accuracy


def train_config(
    config: Config,
    train_set: ImageSet,
    val_set: ImageSet,
    *,
    make_model: Callable[..., nn.Module],
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "cpu",
) -> Run:
    """Train a fresh model for one configuration and measure it on `val_set` after every epoch.

    The model is built by `make_model(dropout=config.dropout)` right after
    `set_seed(seed)`, so every configuration starts from the same weights
    (dropout layers have no weights), and `fit` shuffles with the same `seed`.

    Args:
        config: The regularisers to use.
        train_set: Training images.
        val_set: Validation images, evaluated after every epoch.
        make_model: Called as `make_model(dropout=...)`; returns a new model.
        epochs: Passes over `train_set`.
        lr: Initial learning rate of Adam/AdamW.
        batch_size: Images per step.
        seed: Seed of the initial weights, of dropout's random masks and of
            the shuffling. Augmentations carry their own seed.
        device: Where to train.

    Returns:
        A `Run`.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> from cnn_tutorial.models import ConvNet
        >>> run = train_config(Config("tiny"), make_shapes(20, seed=0), make_shapes(10, seed=1),
        ...                    make_model=lambda dropout: ConvNet(widths=(4,), dropout=dropout), epochs=2)
        >>> run.history.epochs, 0 <= run.val_accuracy <= 1
        (2, True)
    """
    set_seed(seed)
    model = make_model(dropout=config.dropout)
    history = fit(
        model,
        train_set,
        epochs=epochs,
        test_set=val_set,
        batch_size=batch_size,
        lr=lr,
        weight_decay=config.weight_decay,
        schedule=config.schedule,
        augment=config.augment() if config.augment is not None else None,
        seed=seed,
        device=device,
        progress=False,
    )
    train_accuracy = evaluate(model, train_set, device=device).accuracy
    return Run(config, model, history, train_accuracy)


def compare(
    configs: Sequence[Config],
    train_set: ImageSet,
    val_set: ImageSet,
    *,
    make_model: Callable[..., nn.Module] | None = None,
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "cpu",
) -> list[Run]:
    """Train one fresh, identically seeded model per configuration; measure all on `val_set`.

    Args:
        configs: The configurations, with distinct names.
        train_set: The same training images for every configuration.
        val_set: The same validation images for every configuration.
        make_model: Called as `make_model(dropout=...)`; `None` builds a
            `DenseHeadCNN` shaped for `train_set`'s images.
        epochs: Passes over `train_set`, for every configuration.
        lr: Initial learning rate.
        batch_size: Images per step.
        seed: Seed of the initial weights and of the shuffling.
        device: Where to train.

    Returns:
        One `Run` per configuration, in the order given.

    Raises:
        ValueError: If `configs` is empty or two configurations share a name.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> from cnn_tutorial.models import ConvNet
        >>> runs = compare([Config("plain"), Config("decay", weight_decay=0.1)],
        ...                make_shapes(20, seed=0), make_shapes(10, seed=1),
        ...                make_model=lambda dropout: ConvNet(widths=(4,), dropout=dropout), epochs=2)
        >>> [run.config.name for run in runs]
        ['plain', 'decay']
        >>> print(results_table(runs))  # doctest: +ELLIPSIS
        configuration   train  val (last)  val (best)  best epoch  gap (points)
        plain          ...
        decay          ...
    """
    if not configs:
        raise ValueError("compare needs at least one configuration")
    names = [config.name for config in configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"configuration names must be unique; repeated: {duplicates}")
    if make_model is None:
        channels, size, _ = train_set.image_shape

        def make_model(dropout: float) -> nn.Module:
            return DenseHeadCNN(channels, len(train_set.classes), image_size=size, dropout=dropout)

    return [
        train_config(
            config,
            train_set,
            val_set,
            make_model=make_model,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            device=device,
        )
        for config in configs
    ]


def results_table(runs: Sequence[Run]) -> str:
    """The runs side by side as a plain-text table, one row per configuration.

    Columns: accuracy on the training images (clean, dropout off), validation
    accuracy after the last epoch, the best validation accuracy of any epoch
    and when it happened, and the gap between training and last validation
    accuracy in percentage points.

    Args:
        runs: What `compare` returned (or any list of `Run`s).

    Returns:
        The table as one string.

    Examples:
        >>> h = History([1.0, 0.5], [0.6, 0.9], [1.2, 1.0], [0.55, 0.5])
        >>> print(results_table([Run(Config("toy"), nn.Identity(), h, train_accuracy=0.95)]))
        configuration   train  val (last)  val (best)  best epoch  gap (points)
        toy             95.0%       50.0%       55.0%           1          45.0
    """
    width = max([len("configuration")] + [len(run.config.name) for run in runs])
    lines = [f"{'configuration':{width}}   train  val (last)  val (best)  best epoch  gap (points)"]
    for run in runs:
        lines.append(
            f"{run.config.name:{width}}  {run.train_accuracy:6.1%}  {run.val_accuracy:10.1%}"
            f"  {run.best_val_accuracy:10.1%}  {run.best_epoch:10d}  {100 * run.gap:12.1f}"
        )
    return "\n".join(lines)


def plot_validation_curves(runs: Sequence[Run], title: str | None = None) -> "Figure":
    """Validation accuracy per epoch, one line per run, on one set of axes.

    Args:
        runs: What `compare` returned.
        title: Optional title of the axes.

    Returns:
        A `matplotlib.figure.Figure`.

    Examples:
        >>> h = History([1.0, 0.5], [0.6, 0.9], [1.2, 1.0], [0.55, 0.5])
        >>> fig = plot_validation_curves([Run(Config("toy"), nn.Identity(), h, 0.95)])
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['toy']
    """
    import matplotlib.pyplot as plt

    from cnn_tutorial.plotting import finish_axes  # importing plotting also registers the Chinese font

    fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
    for run in runs:
        accuracies = run.history.test_accuracy
        ax.plot(range(1, len(accuracies) + 1), accuracies, marker=".", label=run.config.name)
    ax.xaxis.get_major_locator().set_params(integer=True)
    finish_axes(ax, "轮次 (epoch)", "验证集准确率 (validation accuracy)", title, legend_fontsize=8)
    return fig


@torch.no_grad()
def per_class_accuracy(model: nn.Module, dataset: ImageSet, batch_size: int = 256) -> dict[str, float]:
    """Accuracy on each class separately, by class name.

    A single accuracy can hide a systematic error: a model that confuses two
    of ten classes loses at most a fifth of its accuracy, but it is useless
    on those two classes.

    Args:
        model: A classifier returning logits; it is put in evaluation mode.
        dataset: An `ImageSet` (it knows its class names).
        batch_size: Images per forward pass (no effect on the result).

    Returns:
        `{class name: share of that class's images classified correctly}`;
        `nan` for a class without images.

    Examples:
        >>> data = ImageSet(torch.zeros(4, 1, 2, 2), torch.tensor([0, 0, 1, 1]), ["a", "b"])
        >>> always_a = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
        >>> with torch.no_grad():
        ...     always_a[1].weight.zero_(); always_a[1].bias.copy_(torch.tensor([1.0, 0.0]))
        Parameter containing: ...
        >>> per_class_accuracy(always_a, data)
        {'a': 1.0, 'b': 0.0}
    """
    model.eval()
    device = next(model.parameters()).device
    correct = torch.zeros(len(dataset.classes))
    total = torch.zeros(len(dataset.classes))
    for inputs, labels in DataLoader(dataset, batch_size=batch_size):
        predicted = model(inputs.to(device)).argmax(dim=1).cpu()
        total += torch.bincount(labels, minlength=len(total)).float()
        correct += torch.bincount(labels[predicted == labels], minlength=len(total)).float()
    return {
        name: (c / t).item() if t > 0 else math.nan
        for name, c, t in zip(dataset.classes, correct, total)
    }


def standard_error(accuracy: float, num_images: int) -> float:
    """Standard error of an accuracy measured on `num_images` independent images.

    An accuracy measured on n images is an estimate; if the model gets each
    image right with probability p, it scatters by about
    $\\sqrt{p(1-p)/n}$. Differences between configurations much smaller than
    about two of these are indistinguishable from luck.

    Args:
        accuracy: The measured accuracy p, in [0, 1].
        num_images: The number of images n it was measured on.

    Returns:
        The standard error, in the same units as `accuracy`.

    Raises:
        ValueError: If `accuracy` is outside [0, 1] or `num_images` < 1.

    Examples:
        >>> round(standard_error(0.8, 400), 4)  # sqrt(0.8 * 0.2 / 400)
        0.02
    """
    if not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must lie in [0, 1], got {accuracy}")
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    return math.sqrt(accuracy * (1 - accuracy) / num_images)


def _check_dropout(dropout: float) -> None:
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")

"""Transfer learning: reuse a trained network's features on a new task.

A convolutional network splits into a *feature extractor* (the convolution
blocks, `model.features` in `ConvNet`) and a *classifier head* on top
(`model.classifier`). Transfer learning keeps the extractor that a network
learned on one task (the *source*) and trains only a new head for another
task (the *target*); fine-tuning then gently updates every layer. The
functions here do each step, and `label_budget_curve` measures how much it
helps for each number of labelled target examples.

Everything is device-agnostic: pass `device=` (or let `pick_device` choose);
nothing calls `.cuda()`.
"""

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from cnn_tutorial.data import ImageSet
from cnn_tutorial.training import History, evaluate, fit, set_seed

METHODS = ("frozen", "fine_tune", "scratch", "random_frozen")
"""The four ways `label_budget_curve` trains a model for the target task."""

METHOD_LABELS = {
    "frozen": "冻结预训练特征 + 新分类头 (frozen pretrained features)",
    "fine_tune": "微调全部层 (fine-tuning)",
    "scratch": "从零训练 (from scratch)",
    "random_frozen": "冻结随机特征 + 新分类头 (frozen random features)",
}
"""Legend of each method in `plot_budget_curve`, Chinese first."""


def select_classes(dataset: ImageSet, classes: Sequence[int | str]) -> ImageSet:
    """Keep only some classes of a data set and number them 0, 1, 2, … in the order given.

    Use it to cut one labelled data set into two *different* tasks, e.g. the
    first five shapes for pretraining and the last five for the new task.

    Args:
        dataset: The full data set.
        classes: The classes to keep, as indices into `dataset.classes` or as names.

    Returns:
        A new `ImageSet` with only those images; label `i` means `classes[i]`.

    Raises:
        ValueError: If `classes` is empty, repeats a class or names an unknown one.

    Examples:
        >>> import torch
        >>> data = ImageSet(torch.zeros(5, 1, 2, 2), torch.tensor([0, 2, 1, 2, 0]), ["a", "b", "c"])
        >>> subset = select_classes(data, ["c", "a"])
        >>> subset.classes, subset.labels.tolist()
        (('c', 'a'), [1, 0, 0, 1])
        >>> select_classes(data, [1]).labels.tolist()
        [0]
    """
    indices = _class_indices(dataset, classes)
    lookup = torch.full((len(dataset.classes),), -1, dtype=torch.long)
    lookup[torch.tensor(indices)] = torch.arange(len(indices))
    new_labels = lookup[dataset.labels]
    keep = new_labels >= 0
    return ImageSet(dataset.images[keep], new_labels[keep], [dataset.classes[i] for i in indices])


def per_class_indices(labels: torch.Tensor, per_class: int, num_classes: int | None = None) -> torch.Tensor:
    """Positions of the first `per_class` examples of every class, in data-set order.

    Taking the *first* examples makes the subsets nested: the 10-per-class
    subset is part of the 20-per-class one, so a larger budget only ever adds
    examples. (`make_shapes` already shuffles its images, so "first" is random.)

    Args:
        labels: Integer labels shaped (N,).
        per_class: How many examples of each class.
        num_classes: The classes are `0 … num_classes - 1`; each must have
            enough examples. `None`: the classes present in `labels`.

    Returns:
        Sorted indices, `per_class` for each class.

    Raises:
        ValueError: If `per_class` < 1 or a class has fewer examples than that.

    Examples:
        >>> per_class_indices(torch.tensor([1, 0, 1, 1, 0, 0]), 2).tolist()
        [0, 1, 2, 4]
        >>> per_class_indices(torch.tensor([1, 0, 1]), 1, num_classes=3)
        Traceback (most recent call last):
            ...
        ValueError: class 2 has only 0 examples, fewer than per_class=1
    """
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    chosen = []
    for label in torch.unique(labels) if num_classes is None else torch.arange(num_classes):
        positions = torch.nonzero(labels == label).flatten()
        if len(positions) < per_class:
            raise ValueError(
                f"class {int(label)} has only {len(positions)} examples, fewer than per_class={per_class}"
            )
        chosen.append(positions[:per_class])
    return torch.sort(torch.cat(chosen)).values


def take_per_class(dataset: ImageSet, per_class: int) -> ImageSet:
    """A balanced labelled subset: the first `per_class` images of every class.

    Args:
        dataset: Where to take the images from.
        per_class: Images per class (the *label budget*).

    Returns:
        An `ImageSet` with `per_class × number of classes` images, in data-set order.

    Raises:
        ValueError: If a class (of `dataset.classes`) has fewer than `per_class` images.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> small = take_per_class(make_shapes(200, seed=0), 3)
        >>> len(small), set(small.class_counts().values())
        (30, {3})
    """
    keep = per_class_indices(dataset.labels, per_class, len(dataset.classes))
    return ImageSet(dataset.images[keep], dataset.labels[keep], dataset.classes)


def freeze(module: nn.Module) -> nn.Module:
    """Stop training a module: set `requires_grad=False` on all its parameters.

    Frozen parameters get no gradient, so no optimizer changes them. (Layers
    that keep running statistics, such as `BatchNorm2d`, still update those in
    training mode; extract features with `extract_features`, which runs in
    evaluation mode, or keep such layers in `eval()`.)

    Args:
        module: The part to freeze, e.g. `model.features`.

    Returns:
        The same module, for chaining.

    Examples:
        >>> from cnn_tutorial.models import ConvNet
        >>> model = ConvNet(widths=(4,))
        >>> _ = freeze(model.features)
        >>> [name for name, p in model.named_parameters() if p.requires_grad]
        ['classifier.3.weight', 'classifier.3.bias']
    """
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Train a module again: set `requires_grad=True` on all its parameters.

    Args:
        module: The part to unfreeze.

    Returns:
        The same module.

    Examples:
        >>> layer = freeze(nn.Linear(2, 2))
        >>> unfreeze(layer).weight.requires_grad
        True
    """
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    return module


def new_head(model: nn.Module, num_classes: int) -> nn.Linear:
    """Replace a model's last `nn.Linear` by a fresh, trainable one with `num_classes` outputs.

    The new layer takes the same inputs (features) as the old one, starts
    from PyTorch's default random initialisation and sits on the old layer's
    device. Works on `ConvNet` (`classifier[-1]`) and on torchvision's ResNets
    (`fc`) alike.

    Args:
        model: A network whose last `nn.Linear` (in `named_modules` order) is its output layer.
        num_classes: Outputs of the new layer.

    Returns:
        The new layer (already placed inside `model`).

    Raises:
        ValueError: If `model` has no `nn.Linear`.

    Examples:
        >>> from cnn_tutorial.models import ConvNet
        >>> model = ConvNet(num_classes=10, widths=(8, 16))
        >>> new_head(model, 5)
        Linear(in_features=16, out_features=5, bias=True)
        >>> model(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 5])
    """
    name = None
    for candidate, module in model.named_modules():
        if isinstance(module, nn.Linear):
            name, old = candidate, module
    if name is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to replace")
    layer = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    layer.to(device=old.weight.device, dtype=old.weight.dtype)
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, layer)
    return layer


def reinitialize(model: nn.Module) -> nn.Module:
    """Give every layer fresh random weights (`reset_parameters`), in place.

    Same architecture, nothing learned: the control for "is it the
    pretraining that helps, or just the architecture?".

    Args:
        model: Any module; layers without `reset_parameters` are left alone.

    Returns:
        The same module.

    Examples:
        >>> layer = nn.Linear(3, 2)
        >>> before = layer.weight.clone()
        >>> torch.equal(reinitialize(layer).weight, before)
        False
    """
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


@torch.no_grad()
def extract_features(
    features: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> TensorDataset:
    """Run a data set through a feature extractor once and keep the outputs.

    This is *feature extraction*: the extractor is fixed, so its output for an
    image never changes, and a new head can be trained on these stored
    outputs many epochs over without running the convolutions again. The
    extractor runs in evaluation mode (its mode is restored afterwards) and
    without gradients.

    Args:
        features: The extractor, e.g. `model.features`.
        dataset: Yields `(image, label)` pairs.
        batch_size: Images per forward pass (no effect on the result).
        device: Where to run; `None` uses the extractor's device.

    Returns:
        A `TensorDataset` of (features, labels), on the CPU; it plugs into
        `fit` and `evaluate` like any data set.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> from cnn_tutorial.models import ConvNet
        >>> model = ConvNet(widths=(8, 16))
        >>> stored = extract_features(model.features, make_shapes(20, seed=0))
        >>> stored.tensors[0].shape, stored.tensors[1].shape
        (torch.Size([20, 16, 8, 8]), torch.Size([20]))
    """
    if device is None:
        first = next(features.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = features.training
    features.to(device).eval()
    outputs, labels = [], []
    try:
        for images, targets in DataLoader(dataset, batch_size=batch_size):
            outputs.append(features(images.to(device)).cpu())
            labels.append(torch.as_tensor(targets))
    finally:
        features.train(was_training)
    return TensorDataset(torch.cat(outputs), torch.cat(labels))


def epochs_for(num_examples: int, batch_size: int, min_steps: int, min_epochs: int = 1) -> int:
    """Epochs that give at least `min_steps` optimisation steps and `min_epochs` passes.

    With 50 training images and batches of 32 an epoch is only 2 steps, with
    1,500 images it is 47: counting epochs alone would starve the small
    budgets. This gives every budget enough steps.

    Args:
        num_examples: Size of the training set.
        batch_size: Images per step.
        min_steps: Fewest optimisation steps.
        min_epochs: Fewest passes over the data.

    Returns:
        The number of epochs.

    Examples:
        >>> epochs_for(50, 32, min_steps=100)   # 2 steps per epoch
        50
        >>> epochs_for(1500, 32, min_steps=100, min_epochs=8)  # 47 steps per epoch
        8
    """
    steps_per_epoch = math.ceil(num_examples / batch_size)
    return max(min_epochs, math.ceil(min_steps / steps_per_epoch))


@dataclass
class Recipe:
    """How `label_budget_curve` trains: one learning rate and step budget per stage.

    Attributes:
        batch_size: Images per step when convolutions are trained (fine-tuning, from scratch).
        head_batch_size: Feature maps per step when only the head is trained.
        head_lr: Learning rate of the new head on frozen features.
        head_steps: Fewest steps for the head (cheap: it trains on stored features).
        head_epochs: Fewest epochs for the head.
        fine_tune_lr: Learning rate for fine-tuning all layers, lower than from scratch
            so the pretrained features are adjusted, not overwritten.
        fine_tune_steps: Fewest fine-tuning steps.
        fine_tune_epochs: Fewest fine-tuning epochs.
        scratch_lr: Learning rate when training from random weights.
        scratch_steps: Fewest steps from scratch.
        scratch_epochs: Fewest epochs from scratch.
    """

    batch_size: int = 16
    head_batch_size: int = 256
    head_lr: float = 5e-2
    head_steps: int = 300
    head_epochs: int = 20
    fine_tune_lr: float = 3e-4
    fine_tune_steps: int = 60
    fine_tune_epochs: int = 2
    scratch_lr: float = 1e-2
    scratch_steps: int = 500
    scratch_epochs: int = 5


@dataclass
class BudgetCurve:
    """Test accuracy of each method for each label budget.

    Attributes:
        per_class: The label budgets, labelled images per class.
        accuracy: For each method in `METHODS` that was run, one test accuracy per budget.
        steps: For each method, the optimisation steps of its own training stage per budget:
            the head's steps on stored features for `"frozen"` and `"random_frozen"`
            (cheap: no convolution runs), the steps through the whole network for
            `"fine_tune"` (after the `"frozen"` head) and `"scratch"`.
    """

    per_class: list[int] = field(default_factory=list)
    accuracy: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[int]] = field(default_factory=dict)

    def table(self) -> str:
        """One row per budget, one column per method.

        Examples:
            >>> print(BudgetCurve([10, 100], {"frozen": [0.8, 0.9], "scratch": [0.5, 0.85]}).table())
            per_class     frozen    scratch
                   10     80.00%     50.00%
                  100     90.00%     85.00%
        """
        methods = list(self.accuracy)
        rows = ["per_class" + "".join(f"{m:>{_width(m)}}" for m in methods)]
        for i, k in enumerate(self.per_class):
            rows.append(f"{k:9d}" + "".join(f"{self.accuracy[m][i]:>{_width(m)}.2%}" for m in methods))
        return "\n".join(rows)


def _width(method: str) -> int:
    return max(len(method), 8) + 3


def train_head(
    head: nn.Module,
    train_features: TensorDataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 32,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> History:
    """Train a classifier head on stored features (Adam, cross-entropy, shuffled mini-batches).

    The same optimisation `fit` does, but the features are tensors already
    in memory, so a step costs a slice and a tiny forward pass: thousands of
    steps take a second or two. Training the head this way is equivalent to
    training the whole model with its extractor frozen (for extractors
    without dropout or batch norm), except that each image's convolutions ran
    once, in `extract_features`, instead of once per epoch.

    Args:
        head: The classifier, e.g. `model.classifier`; only its parameters
            with `requires_grad=True` are trained.
        train_features: What `extract_features` returned: (features, labels).
        epochs: Passes over the stored features.
        lr: Adam's learning rate.
        batch_size: Feature maps per step.
        seed: Seed of the shuffling.
        device: Where to train; `None` uses the head's device.

    Returns:
        The per-epoch training loss and accuracy (no test columns).

    Raises:
        ValueError: If `epochs` or `batch_size` is less than 1, or `head` has
            no trainable parameter.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> from cnn_tutorial.models import ConvNet
        >>> set_seed(0)
        >>> model = ConvNet(widths=(4,))
        >>> stored = extract_features(model.features, make_shapes(20, seed=0))
        >>> before = model.features[0].weight.clone()
        >>> history = train_head(model.classifier, stored, epochs=3, lr=0.01)
        >>> history.epochs, torch.equal(model.features[0].weight, before)
        (3, True)
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    trainable = [p for p in head.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the head has no trainable parameter; did you freeze it?")
    if device is None:
        device = trainable[0].device
    head.to(device).train()
    features, labels = (t.to(device) for t in train_features.tensors)
    optimizer = torch.optim.Adam(trainable, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = History()
    for _ in range(epochs):
        total_loss, correct = 0.0, 0
        for batch in torch.randperm(len(labels), generator=generator).split(batch_size):
            batch = batch.to(device)
            logits = head(features[batch])
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(batch)
            correct += (logits.argmax(dim=1) == labels[batch]).sum().item()
        history.train_loss.append(total_loss / len(labels))
        history.train_accuracy.append(correct / len(labels))
    return history


def label_budget_curve(
    pretrained: nn.Module,
    train_pool: ImageSet,
    test_set: ImageSet,
    budgets: Sequence[int],
    *,
    recipe: Recipe | None = None,
    methods: Sequence[str] = METHODS,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> BudgetCurve:
    """Target-task test accuracy against the number of labelled examples per class.

    For each budget `k`, the training set is `take_per_class(train_pool, k)`
    (nested subsets), and each method trains a copy of `pretrained`'s
    architecture, evaluated on the same `test_set`:

    - `"frozen"`: pretrained `features` frozen, new linear head trained on
      stored features (`extract_features`, `train_head`);
    - `"fine_tune"`: starts from the `"frozen"` model, unfreezes everything,
      trains all layers with the lower `recipe.fine_tune_lr`;
    - `"scratch"`: same architecture, fresh random weights, all layers trained;
    - `"random_frozen"`: like `"frozen"`, but the frozen features are random
      (`reinitialize`): the control that shows what pretraining adds.

    Every new head and every fresh network starts from `set_seed(seed)`, and
    the hyper-parameters (`recipe`) are the same for every budget.

    Args:
        pretrained: A trained model with `.features` and `.classifier`; not modified.
        train_pool: Labelled target-task images to draw the budgets from.
        test_set: Target-task images for the accuracy.
        budgets: Labelled images per class, e.g. `(10, 20, 50)`.
        recipe: Learning rates and step budgets; `Recipe()` by default.
        methods: Which of `METHODS` to run.
        seed: Seed of initialisation and shuffling.
        device: Where to train.

    Returns:
        A `BudgetCurve`.

    Raises:
        ValueError: If a method is unknown or `"fine_tune"` is asked without `"frozen"`.

    Examples:
        >>> from cnn_tutorial.data import make_shapes
        >>> from cnn_tutorial.models import ConvNet
        >>> shapes = make_shapes(60, seed=0)
        >>> curve = label_budget_curve(ConvNet(widths=(4,)), shapes, make_shapes(20, seed=1), [1, 2],
        ...     recipe=Recipe(head_steps=1, head_epochs=1, scratch_steps=1, scratch_epochs=1),
        ...     methods=["frozen", "scratch"], device="cpu")
        >>> curve.per_class, list(curve.accuracy)
        ([1, 2], ['frozen', 'scratch'])
        >>> curve.steps  # 10 and 20 images: one head step each; batches of 16 from scratch
        {'frozen': [1, 1], 'scratch': [1, 2]}
    """
    recipe = recipe or Recipe()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {METHODS}")
    if "fine_tune" in methods and "frozen" not in methods:
        raise ValueError('"fine_tune" starts from the "frozen" model; ask for both')
    num_classes = len(train_pool.classes)
    pretrained = copy.deepcopy(pretrained).cpu()
    set_seed(seed)
    random_net = reinitialize(copy.deepcopy(pretrained))  # the same weights "scratch" starts from
    extractors = {"frozen": pretrained, "random_frozen": random_net}
    stored = {
        name: (extract_features(net.features, train_pool, device=device),
               extract_features(net.features, test_set, device=device))
        for name, net in extractors.items() if name in methods
    }
    curve = BudgetCurve(accuracy={m: [] for m in METHODS if m in methods})
    curve.steps = {m: [] for m in curve.accuracy}

    def train(method, model, data, lr, batch_size, min_steps, min_epochs):
        epochs = epochs_for(len(data), batch_size, min_steps, min_epochs)
        if isinstance(data, TensorDataset):  # stored features: train the head only
            train_head(model.classifier, data, epochs=epochs, lr=lr, batch_size=batch_size,
                       seed=seed, device=device)
        else:
            fit(model, data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device,
                progress=False)
        curve.steps[method].append(epochs * math.ceil(len(data) / batch_size))

    r = recipe
    for k in budgets:
        keep = per_class_indices(train_pool.labels, k, num_classes)
        subset = ImageSet(train_pool.images[keep], train_pool.labels[keep], train_pool.classes)
        curve.per_class.append(k)
        for name, (pool_features, test_features) in stored.items():
            model = freeze(copy.deepcopy(extractors[name]))
            set_seed(seed)
            new_head(model, num_classes)
            head_data = TensorDataset(*(t[keep] for t in pool_features.tensors))
            train(name, model, head_data, r.head_lr, r.head_batch_size, r.head_steps, r.head_epochs)
            curve.accuracy[name].append(evaluate(model.classifier, test_features, device=device).accuracy)
            if name == "frozen" and "fine_tune" in methods:
                unfreeze(model)
                train("fine_tune", model, subset, r.fine_tune_lr, r.batch_size, r.fine_tune_steps,
                      r.fine_tune_epochs)
                curve.accuracy["fine_tune"].append(evaluate(model, test_set, device=device).accuracy)
        if "scratch" in methods:
            set_seed(seed)
            model = reinitialize(copy.deepcopy(pretrained))
            new_head(model, num_classes)
            train("scratch", model, subset, r.scratch_lr, r.batch_size, r.scratch_steps, r.scratch_epochs)
            curve.accuracy["scratch"].append(evaluate(model, test_set, device=device).accuracy)
    return curve


def plot_budget_curve(curve: BudgetCurve, title: str | None = None) -> Figure:
    """Accuracy against labelled examples per class (log x axis), one line per method.

    Args:
        curve: What `label_budget_curve` returned.
        title: Optional title.

    Returns:
        The figure.

    Examples:
        >>> fig = plot_budget_curve(BudgetCurve([10, 100], {"frozen": [0.8, 0.9], "scratch": [0.5, 0.85]}))
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['冻结预训练特征 + 新分类头 (frozen pretrained features)', '从零训练 (from scratch)']
        >>> fig.axes[0].get_xscale()
        'log'
    """
    import matplotlib.pyplot as plt

    from cnn_tutorial.plotting import finish_axes, log_size_axis  # importing plotting also registers the Chinese font

    markers = {"frozen": "o", "fine_tune": "s", "scratch": "^", "random_frozen": "x"}
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for method, values in curve.accuracy.items():
        label = METHOD_LABELS.get(method, method)
        ax.plot(curve.per_class, values, marker=markers.get(method, "o"), label=label)
    log_size_axis(ax, curve.per_class)
    finish_axes(ax, "每类带标签的训练图像 (labelled images per class)", "测试集准确率 (test accuracy)", title,
                legend_fontsize=8)
    return fig


def _class_indices(dataset: ImageSet, classes: Sequence[int | str]) -> list[int]:
    """Indices into `dataset.classes` of `classes` (names or indices), checked."""
    indices = []
    for c in classes:
        if isinstance(c, str):
            if c not in dataset.classes:
                raise ValueError(f"unknown class {c!r}; the classes are {dataset.classes}")
            indices.append(dataset.classes.index(c))
        elif 0 <= int(c) < len(dataset.classes):
            indices.append(int(c))
        else:
            raise ValueError(f"class index {c} out of range for {len(dataset.classes)} classes")
    if not indices:
        raise ValueError("classes must name at least one class")
    if len(set(indices)) != len(indices):
        raise ValueError(f"classes repeat a class: {list(classes)}")
    return indices

"""Seeing what a trained convnet does: filters, saliency, Grad-CAM, filter patterns.

Five ways to look inside a convolutional network, each a function here:

- `filters`: a convolution's kernels, scaled to [0, 1] so they can be shown
  as small images (with `cnn_tutorial.plotting.show_images`);
- intermediate activations: use `cnn_tutorial.inspection.capture_activations`
  and `cnn_tutorial.plotting.plot_feature_maps`;
- `saliency`: how strongly each input pixel moves a class score (the
  gradient of the score with respect to the input);
- `grad_cam`: where in the image a layer found evidence for a class
  (Selvaraju et al., 2017);
- `maximize_activation`: an input, found by gradient ascent, that excites one
  channel of a layer strongly: the pattern that channel looks for.

`foreground_mask`, `bounding_box` and `share_inside` check a map against
the image: how much of the map's mass lies on the object's pixels.
`plot_heatmaps` draws maps over their image.

Layers are named as in `model.named_modules()` (for `ConvNet`:
`"features.0"`, `"features.4"`, …). The functions put the model in
evaluation mode while they run and restore its mode afterwards, never write
into the parameters' `.grad`, and move inputs to the device of the model's
parameters (results come back on that device).
"""

import operator
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

import cnn_tutorial.plotting  # noqa: F401  (registers the Chinese font for figure titles)


def filters(conv: nn.Conv2d) -> torch.Tensor:
    """The kernels of a convolution, each scaled to [0, 1] for display.

    Each output channel's kernel (all its input channels together) is shifted
    and scaled so that its smallest weight becomes 0 and its largest 1; the
    relative sizes of its input channels, which make the color of a
    3-channel kernel, are kept. A constant kernel becomes 0.5 everywhere.

    Args:
        conv: A `nn.Conv2d`.

    Returns:
        A tensor shaped like `conv.weight`, (out_channels, in_channels, kH, kW),
        detached, with values in [0, 1]. With 1 or 3 input channels it goes
        straight to `show_images`; for a deeper layer show one kernel's input
        channels as grey images with `filters(conv)[k].unsqueeze(1)`.

    Raises:
        TypeError: If `conv` is not a `nn.Conv2d`.

    Examples:
        >>> conv = nn.Conv2d(3, 4, kernel_size=3)
        >>> shown = filters(conv)
        >>> shown.shape
        torch.Size([4, 3, 3, 3])
        >>> float(shown.amin()), float(shown.amax())
        (0.0, 1.0)
        >>> with torch.no_grad():
        ...     _ = conv.weight[0].fill_(2.0)  # a constant kernel
        >>> filters(conv)[0].unique()
        tensor([0.5000])
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"filters expects an nn.Conv2d, got {type(conv).__name__}")
    weight = conv.weight.detach()
    low = weight.amin(dim=(1, 2, 3), keepdim=True)
    high = weight.amax(dim=(1, 2, 3), keepdim=True)
    span = high - low
    scaled = (weight - low) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, torch.full_like(weight, 0.5))


def saliency(model: nn.Module, image: torch.Tensor, target: int | None = None) -> torch.Tensor:
    """Saliency map: how much each pixel moves the score of one class.

    The gradient of the class score (the logit, before softmax) with respect
    to the input image, as an absolute value, maximised over the color
    channels (Simonyan et al., 2014). A pixel the score does not depend on
    gets exactly 0.

    Args:
        model: A classifier returning logits shaped (1, classes) for a batch of one.
        image: One image shaped (C, H, W) (no batch dimension).
        target: The class whose score is explained; `None` uses the class the
            model predicts.

    Returns:
        A tensor shaped (H, W), non-negative, detached (not rescaled).

    Raises:
        ValueError: If `image` is not three-dimensional, the model's output is
            not (1, classes), or `target` is not a class index.

    Examples:
        A linear model's score is `w · x + b`, so its gradient is `w`:

        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(1 * 2 * 2, 3))
        >>> saliency(linear, torch.rand(1, 2, 2), target=1).shape
        torch.Size([2, 2])
        >>> weights = linear[1].weight[1].detach().abs().reshape(2, 2)
        >>> torch.equal(saliency(linear, torch.rand(1, 2, 2), target=1), weights)
        True
    """
    _check_image(image)
    with _eval_mode(model):
        x = image.detach().to(_device(model)).unsqueeze(0).requires_grad_(True)
        logits = model(x)
        score = logits[0, _target(logits, target)]
        (gradient,) = torch.autograd.grad(score, x)
    return gradient[0].abs().amax(dim=0)


def grad_cam(
    model: nn.Module, image: torch.Tensor, layer: str, target: int | None = None
) -> torch.Tensor:
    """Grad-CAM heat map: where a layer found evidence for a class.

    Following Selvaraju et al. (2017): take the layer's activations A_k (one
    feature map per channel k) and the gradient of the class score y_c
    (the logit) with respect to them; weight each channel by its spatially
    averaged gradient, alpha_k = mean over positions (i, j) of
    ∂y_c / ∂A_k[i, j]; keep the positive part (ReLU) of sum_k alpha_k · A_k;
    upsample it to the input's height and width (bilinear `F.interpolate`);
    divide by its maximum.

    Args:
        model: A classifier returning logits shaped (1, classes) for a batch of one.
        image: One image shaped (C, H, W).
        layer: Name of a layer in `model.named_modules()` whose output is shaped
            (1, channels, h, w), usually the last convolution block.
        target: The class to explain; `None` uses the predicted class.

    Returns:
        A tensor shaped (H, W) with values in [0, 1] (maximum 1), or all zeros
        when the layer holds no positive evidence for the class.

    Raises:
        ValueError: If `image` is not (C, H, W), the layer's output is not
            four-dimensional, or `target` is not a class index.
        KeyError: If `layer` is not a layer of the model.

    Examples:
        >>> from cnn_tutorial.models import ConvNet
        >>> torch.manual_seed(1)
        <torch._C.Generator object at ...>
        >>> model = ConvNet(widths=(4, 8))
        >>> cam = grad_cam(model, torch.rand(3, 32, 32), "features.4")
        >>> cam.shape, float(cam.min()) >= 0, float(cam.max())
        (torch.Size([32, 32]), True, 1.0)
        >>> grad_cam(model, torch.rand(3, 32, 32), "features.9")
        Traceback (most recent call last):
            ...
        KeyError: "no layer named 'features.9'; the model has: features, features.0, ..."
    """
    _check_image(image)
    module = _layer(model, layer)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, i, output: captured.append(output))
    try:
        with _eval_mode(model):
            logits = model(image.detach().to(_device(model)).unsqueeze(0))
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {layer!r} did not run in the model's forward pass")
    activations = captured[-1]
    if not isinstance(activations, torch.Tensor) or activations.dim() != 4:
        shape = tuple(activations.shape) if isinstance(activations, torch.Tensor) else type(activations)
        raise ValueError(f"layer {layer!r} must output (1, channels, h, w) feature maps, got {shape}")
    score = logits[0, _target(logits, target)]
    (gradient,) = torch.autograd.grad(score, activations)
    weights = gradient[0].mean(dim=(1, 2))  # one weight per channel
    cam = F.relu((weights[:, None, None] * activations[0]).sum(dim=0)).detach()
    cam = F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    return cam / peak if peak > 0 else torch.zeros_like(cam)


class ActivationMaximum(NamedTuple):
    """What `maximize_activation` found.

    Attributes:
        images: One input per requested channel, shaped (K, C, H, W), in [0, 1].
        history: Mean activation of each channel on its image, shaped
            (steps + 1, K): row 0 on the random start, row `t` after step `t`
            (with `position`, the activation of that one neuron).
    """

    images: torch.Tensor
    history: torch.Tensor


def maximize_activation(
    model: nn.Module,
    layer: str,
    channel: int | Sequence[int],
    steps: int = 100,
    lr: float = 0.05,
    seed: int = 0,
    shape: tuple[int, int, int] = (3, 32, 32),
    l2: float = 0.01,
    position: tuple[int, int] | None = None,
) -> ActivationMaximum:
    """Find an input that excites a channel, by gradient ascent on the input.

    Start from a grey image with a little noise (drawn from a generator seeded
    with `seed`) and take `steps` Adam steps that increase the channel's mean
    activation minus `l2` × the mean squared distance of the pixels from
    grey, clamping the pixels to [0, 1] after every step. The result is the
    pattern the channel responds to; because the mean is over the whole
    feature map, the pattern is repeated wherever it fits. With `position`,
    only the one neuron at that position of the feature map is maximised
    instead, and the pattern appears once, inside its receptive field.

    Several channels are optimised at once, one image each, in a single
    batch; the images do not interact (evaluation mode, per-pixel Adam), so
    each is what a separate run would find from the same start.

    Args:
        model: Any module taking a batch shaped (N, *shape).
        layer: Name of the layer, as in `model.named_modules()`; its output
            must be shaped (N, channels, h, w).
        channel: A channel index, or a sequence of them.
        steps: Number of gradient-ascent steps.
        lr: Adam's learning rate on the pixels.
        seed: Seed of the starting noise.
        shape: Shape of one input, (C, H, W).
        l2: Weight of the penalty that keeps pixels near grey.
        position: `(row, column)` of one neuron in the layer's feature map to
            maximise; `None` maximises the mean over the whole map.

    Returns:
        An `ActivationMaximum(images, history)`.

    Raises:
        KeyError: If `layer` is not a layer of the model.
        ValueError: If `steps` < 1, a channel is out of range, or the layer's
            output is not four-dimensional.

    Examples:
        >>> from cnn_tutorial.models import ConvNet
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> model = ConvNet(widths=(4, 8))
        >>> found = maximize_activation(model, "features.0", [0, 1], steps=20)
        >>> found.images.shape, found.history.shape
        (torch.Size([2, 3, 32, 32]), torch.Size([21, 2]))
        >>> bool((found.history[-1] > found.history[0]).all())  # the activations grew
        True
        >>> maximize_activation(model, "features.0", 4)
        Traceback (most recent call last):
            ...
        ValueError: channel 4 is out of range: layer 'features.0' has 4 channels
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    channels = [channel] if isinstance(channel, int) else list(channel)
    if not channels:
        raise ValueError("give at least one channel")
    module = _layer(model, layer)
    generator = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.1 * torch.randn(len(channels), *shape, generator=generator)).clamp(0, 1)
    x = x.to(_device(model)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    index = torch.arange(len(channels))
    history = []

    def channel_means(output: torch.Tensor) -> torch.Tensor:
        maps = output[index, channels]  # (K, h, w): each image's own channel
        if position is None:
            return maps.mean(dim=(1, 2))
        return maps[:, position[0], position[1]]

    with _eval_mode(model):
        for step in range(steps + 1):
            output = _layer_output(model, module, layer, x)
            if step == 0:
                width = output.shape[1]
                bad = [c for c in channels if not 0 <= c < width]
                if bad:
                    raise ValueError(
                        f"channel {bad[0]} is out of range: layer {layer!r} has {width} channels"
                    )
                height, breadth = output.shape[-2:]
                inside = position is None or (0 <= position[0] < height and 0 <= position[1] < breadth)
                if not inside:
                    raise ValueError(
                        f"position {tuple(position)} is outside the "
                        f"{height}×{breadth} feature map of {layer!r}"
                    )
            means = channel_means(output)
            history.append(means.detach())
            if step == steps:
                break
            objective = means.sum() - l2 * ((x - 0.5) ** 2).flatten(1).mean(dim=1).sum()
            (gradient,) = torch.autograd.grad(-objective, x)  # parameters' .grad untouched
            x.grad = gradient
            optimizer.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    return ActivationMaximum(x.detach(), torch.stack(history))


def foreground_mask(image: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """Pixels that differ from the background color: the object's pixels.

    The background color is estimated as the per-channel median of the image
    (so the object must cover less than half of it); a pixel belongs to the
    object when its color differs from the background by more than
    `threshold` on average over the channels. Made for `make_shapes` images:
    one bright shape on a dark, noisy, uniform background.

    Args:
        image: One image shaped (C, H, W).
        threshold: Smallest mean absolute color difference of an object pixel.

    Returns:
        A boolean tensor shaped (H, W).

    Raises:
        ValueError: If `image` is not three-dimensional.

    Examples:
        >>> image = torch.full((3, 6, 6), 0.1)
        >>> image[:, 1:3, 2:5] = 0.8  # a 2×3 object
        >>> foreground_mask(image).int()
        tensor([[0, 0, 0, 0, 0, 0],
                [0, 0, 1, 1, 1, 0],
                [0, 0, 1, 1, 1, 0],
                [0, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    """
    _check_image(image)
    background = image.flatten(1).median(dim=1).values[:, None, None]
    return (image - background).abs().mean(dim=0) > threshold


def bounding_box(mask: torch.Tensor) -> torch.Tensor:
    """The smallest axis-aligned rectangle holding every pixel of a mask, filled.

    Args:
        mask: Boolean tensor shaped (H, W).

    Returns:
        A boolean tensor shaped (H, W): True inside the rectangle; all False
        for an empty mask.

    Raises:
        ValueError: If `mask` is not two-dimensional.

    Examples:
        >>> ring = torch.tensor([[0, 1, 0, 0],
        ...                      [1, 0, 1, 0],
        ...                      [0, 1, 0, 0]]).bool()
        >>> bounding_box(ring).int()
        tensor([[1, 1, 1, 0],
                [1, 1, 1, 0],
                [1, 1, 1, 0]], dtype=torch.int32)
    """
    if mask.dim() != 2:
        raise ValueError(f"mask must be shaped (H, W), got {tuple(mask.shape)}")
    box = torch.zeros_like(mask, dtype=torch.bool)
    rows = torch.nonzero(mask.bool().any(dim=1)).flatten()
    cols = torch.nonzero(mask.bool().any(dim=0)).flatten()
    if len(rows):
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    return box


def share_inside(heatmap: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of a heat map's total mass that lies inside a mask.

    Compare it with the mask's share of the area, `mask.float().mean()`: a
    map that ignores the object scores about that; a map concentrated on the
    object scores much more.

    Args:
        heatmap: Non-negative values shaped (H, W).
        mask: Boolean tensor of the same shape.

    Returns:
        `heatmap[mask].sum() / heatmap.sum()`, a float in [0, 1]; 0.0 for an
        all-zero map.

    Raises:
        ValueError: If the shapes differ or the map has negative values.

    Examples:
        >>> heat = torch.tensor([[3.0, 1.0], [0.0, 0.0]])
        >>> share_inside(heat, torch.tensor([[True, False], [False, False]]))
        0.75
    """
    if heatmap.shape != mask.shape:
        raise ValueError(f"heatmap {tuple(heatmap.shape)} and mask {tuple(mask.shape)} differ in shape")
    if (heatmap < 0).any():
        raise ValueError("heatmap must be non-negative")
    total = heatmap.sum()
    return float(heatmap[mask.bool()].sum() / total) if total > 0 else 0.0


def plot_heatmaps(
    image: torch.Tensor,
    heatmaps: Mapping[str, torch.Tensor],
    mask: torch.Tensor | None = None,
    title: str | None = None,
) -> Figure:
    """An image, then each heat map drawn over a grey copy of it.

    Args:
        image: One image shaped (C, H, W) with values in [0, 1] (C is 1 or 3).
        heatmaps: Panel title → map shaped (H, W); each is scaled to its own
            maximum for display.
        mask: Optional boolean (H, W) mask whose outline is drawn on every
            heat map (e.g. `foreground_mask(image)`).
        title: Optional figure title.

    Returns:
        The figure: 1 + len(heatmaps) panels in a row.

    Raises:
        ValueError: If `image` is not (C, H, W) or a map's shape is not (H, W).

    Examples:
        >>> image = torch.rand(3, 8, 8)
        >>> fig = plot_heatmaps(image, {"a": torch.rand(8, 8), "b": torch.zeros(8, 8)})
        >>> [ax.get_title() for ax in fig.axes]
        ['图像 (image)', 'a', 'b']
    """
    _check_image(image)
    size = tuple(image.shape[-2:])
    for name, heat in heatmaps.items():
        if tuple(heat.shape) != size:
            raise ValueError(f"heat map {name!r} is shaped {tuple(heat.shape)}, expected {size}")
    picture = image.detach().cpu().clamp(0, 1)
    grey = picture.mean(dim=0).numpy()
    fig, axes = plt.subplots(
        1, 1 + len(heatmaps), figsize=(2.0 * (1 + len(heatmaps)), 2.3), squeeze=False, layout="constrained"
    )
    axes = list(axes.flat)
    if picture.shape[0] == 1:
        axes[0].imshow(grey, cmap="gray", vmin=0, vmax=1)
    else:
        axes[0].imshow(picture.permute(1, 2, 0).numpy())
    axes[0].set_title("图像 (image)", fontsize=9)
    for ax, (name, heat) in zip(axes[1:], heatmaps.items()):
        heat = heat.detach().cpu().float()
        peak = float(heat.max())
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
        ax.imshow((heat / peak if peak > 0 else heat).numpy(), cmap="inferno", vmin=0, vmax=1, alpha=0.7)
        if mask is not None:
            ax.contour(mask.detach().cpu().float().numpy(), levels=[0.5], colors="cyan", linewidths=0.8)
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------- helpers


class _eval_mode:
    """Context manager: the model in evaluation mode, its previous mode restored after."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> nn.Module:
        self.was_training = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def _device(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _check_image(image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.dim() != 3:
        raise ValueError(
            f"image must be one image shaped (C, H, W), got {tuple(image.shape)}; "
            "for the i-th image of a batch pass images[i]"
        )


def _layer(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not isinstance(name, str) or not name or name not in modules:
        known = ", ".join(n for n in modules if n)
        raise KeyError(f"no layer named {name!r}; the model has: {known}")
    return modules[name]


def _target(logits: torch.Tensor, target: int | None) -> int:
    if logits.dim() != 2 or logits.shape[0] != 1:
        raise ValueError(f"the model must return logits shaped (1, classes), got {tuple(logits.shape)}")
    if target is None:
        return int(logits[0].argmax())
    classes = logits.shape[1]
    try:
        index = operator.index(target)  # int, NumPy integer or 0-d integer tensor
    except TypeError:
        index = None
    if index is None or not 0 <= index < classes:
        raise ValueError(f"target must be a class index in 0..{classes - 1}, got {target!r}")
    return index


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the watched layer has run."""


def _layer_output(model: nn.Module, module: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The output of `module` for input `x`, stopping the forward pass there."""
    captured: list[torch.Tensor] = []

    def hook(m, inputs, output):
        captured.append(output)
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {layer!r} did not run in the model's forward pass")
    output = captured[0]
    if not isinstance(output, torch.Tensor) or output.dim() != 4:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
        raise ValueError(f"layer {layer!r} must output (N, channels, h, w) feature maps, got {shape}")
    return output

"""Receptive fields of convolution and pooling stacks: computed and measured.

The *receptive field* of a neuron is the part of the input that can affect
it. For a stack of convolution and pooling layers three numbers describe it,
the same for every neuron of a layer's output (along one axis):

- `size`: how many input pixels the field spans;
- `jump`: how many input pixels apart two neighbouring output neurons'
  fields lie (the *effective stride*, the product of the strides so far);
- `start`: the input index where the field of output neuron 0 begins
  (negative when it starts in the zero padding).

Going through one layer with kernel `k`, stride `s`, padding `p` (added
before the first element) and dilation `d`, whose window spans
`k_eff = d * (k - 1) + 1` elements of its own input:

    size_out  = size_in + (k_eff - 1) * jump_in
    jump_out  = jump_in * s
    start_out = start_in - p * jump_in

starting from `size = 1, jump = 1, start = 0` for the input itself.
`receptive_field` applies this recurrence; `measure_receptive_field`
measures the same three numbers from gradients, independently of it.
"""

import copy
from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import nn

#: Layers that keep the spatial geometry: each output position depends on the
#: same position of the input, so the receptive field passes through unchanged.
PASS_THROUGH = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.BatchNorm2d,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)

_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


class ReceptiveField(NamedTuple):
    """Receptive field of the neurons of one layer along one axis, in input pixels.

    Attributes:
        size: Input pixels spanned by one neuron's field.
        jump: Distance, in input pixels, between the fields of two neighbouring
            neurons (the product of the strides so far).
        start: Input index of the first pixel of neuron 0's field; negative
            if the field begins in the padding.

    Examples:
        >>> rf = ReceptiveField(size=10, jump=4, start=-3)
        >>> rf.window(3)  # input rows (or columns) seen by output neuron 3
        range(9, 19)
        >>> rf.center(3)
        13.5
    """

    size: int
    jump: int
    start: int

    def window(self, index: int) -> range:
        """Input indices spanned by the field of output neuron `index`.

        Indices below 0 or past the input's end fall in the padding.

        Examples:
            >>> ReceptiveField(size=3, jump=1, start=-1).window(0)
            range(-1, 2)
        """
        first = self.start + index * self.jump
        return range(first, first + self.size)

    def center(self, index: int) -> float:
        """Input coordinate of the center of output neuron `index`'s field.

        Examples:
            >>> ReceptiveField(size=4, jump=2, start=-1).center(0)
            0.5
        """
        return self.start + index * self.jump + (self.size - 1) / 2


def layer_geometry(layer: nn.Module, axis: int = 0) -> tuple[int, int, int, int] | None:
    """Kernel size, stride, padding before the first element, and dilation of a layer.

    Args:
        layer: An `nn.Conv2d`, `nn.MaxPool2d`, `nn.AvgPool2d`, or a layer
            in `PASS_THROUGH`.
        axis: 0 for the height, 1 for the width.

    Returns:
        `(kernel_size, stride, padding, dilation)` along `axis`, or `None`
        for a pass-through layer. For `Conv2d(padding="same")` the padding
        is the amount PyTorch adds *before* the first element (for an even
        window it adds one more after the last).

    Raises:
        TypeError: If the layer changes the geometry in a way this module
            does not model (`nn.Linear`, `nn.Flatten`, adaptive pooling, …).
        ValueError: If `axis` is not 0 or 1.

    Examples:
        >>> layer_geometry(nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1))
        (3, 2, 1, 1)
        >>> layer_geometry(nn.Conv2d(3, 8, kernel_size=3, padding="same", dilation=2))
        (3, 1, 2, 2)
        >>> layer_geometry(nn.MaxPool2d(2))  # pooling's stride defaults to its kernel size
        (2, 2, 0, 1)
        >>> layer_geometry(nn.ReLU()) is None
        True
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (height) or 1 (width), got {axis!r}")
    if isinstance(layer, PASS_THROUGH):
        return None
    if not isinstance(layer, _WINDOWED):
        raise TypeError(
            f"cannot compute a receptive field through {type(layer).__name__}; pass only the "
            "convolution and pooling part of a model (e.g. model.features), built from "
            "Conv2d, MaxPool2d, AvgPool2d and pass-through layers ("
            + ", ".join(t.__name__ for t in PASS_THROUGH)
            + ")"
        )
    kernel = _pick(layer.kernel_size, axis)
    stride = _pick(layer.stride, axis)
    dilation = _pick(getattr(layer, "dilation", 1), axis)
    if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, str):
        # "valid" adds nothing; "same" (stride 1 only) adds d * (k - 1) in all,
        # the smaller half before the first element.
        padding = 0 if layer.padding == "valid" else dilation * (kernel - 1) // 2
    else:
        padding = _pick(layer.padding, axis)
    return kernel, stride, padding, dilation


def receptive_field_steps(
    layers: Iterable[nn.Module], axis: int | None = None
) -> list[tuple[nn.Module, ReceptiveField]]:
    """The receptive field after every layer of a stack, by the recurrence.

    Args:
        layers: An `nn.Sequential` or any iterable of modules, applied in
            order; nested `nn.Sequential`s are expanded.
        axis: 0 (height) or 1 (width). `None` requires every layer to be
            the same along both axes and returns that common field.

    Returns:
        `(layer, field)` for each layer in order, `field` being the
        receptive field of that layer's output neurons.

    Raises:
        TypeError: If a layer is not a convolution, pooling or pass-through layer.
        ValueError: If `axis` is `None` and a layer differs between height and width.

    Examples:
        >>> stack = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        >>> for layer, rf in receptive_field_steps(stack):
        ...     print(f"{type(layer).__name__:10} {rf}")
        Conv2d     ReceptiveField(size=3, jump=1, start=-1)
        ReLU       ReceptiveField(size=3, jump=1, start=-1)
        MaxPool2d  ReceptiveField(size=4, jump=2, start=-1)
    """
    layers = list(_flatten(layers))
    if axis is None:
        rows = receptive_field_steps(layers, axis=0)
        cols = receptive_field_steps(layers, axis=1)
        for (layer, row), (_, col) in zip(rows, cols):
            if row != col:
                raise ValueError(
                    f"{layer} differs between height ({row}) and width ({col}); "
                    "pass axis=0 or axis=1"
                )
        return rows
    rf = ReceptiveField(size=1, jump=1, start=0)
    steps = []
    for layer in layers:
        geometry = layer_geometry(layer, axis)
        if geometry is not None:
            kernel, stride, padding, dilation = geometry
            span = dilation * (kernel - 1) + 1  # k_eff
            rf = ReceptiveField(
                size=rf.size + (span - 1) * rf.jump,
                jump=rf.jump * stride,
                start=rf.start - padding * rf.jump,
            )
        steps.append((layer, rf))
    return steps


def receptive_field(layers: Iterable[nn.Module], axis: int | None = None) -> ReceptiveField:
    """Receptive field of the last layer's neurons in a convolution/pooling stack.

    Applies, layer by layer, `size += (k_eff - 1) * jump`, `jump *= stride`,
    `start -= padding * jump` (the old `jump`), with
    `k_eff = dilation * (kernel_size - 1) + 1`. ReLU, batch norm, dropout and
    other layers in `PASS_THROUGH` leave the field unchanged.

    Args:
        layers: An `nn.Sequential` or any iterable of modules, applied in order.
        axis: 0 (height) or 1 (width); `None` for layers that are square.

    Returns:
        The `ReceptiveField` (size, jump, start) of the stack's output neurons,
        in input pixels. An empty stack gives `ReceptiveField(1, 1, 0)`.

    Raises:
        TypeError: If a layer is not a convolution, pooling or pass-through layer.
        ValueError: If `axis` is `None` and a layer differs between height and width.

    Examples:
        Three stacked 3×3 convolutions see 7×7 pixels, like one 7×7 kernel:

        >>> receptive_field([nn.Conv2d(1, 1, 3) for _ in range(3)])
        ReceptiveField(size=7, jump=1, start=0)

        `ConvNet`'s two blocks (conv 3×3, ReLU, max pool 2):

        >>> from cnn_tutorial.models import ConvNet
        >>> receptive_field(ConvNet(widths=(16, 32)).features)
        ReceptiveField(size=10, jump=4, start=-3)

        A dilated kernel spans more pixels with the same 9 weights:

        >>> receptive_field([nn.Conv2d(1, 1, 3, dilation=2)]).size
        5
    """
    steps = receptive_field_steps(layers, axis)
    return steps[-1][1] if steps else ReceptiveField(size=1, jump=1, start=0)


def gradient_footprint(
    layers: Iterable[nn.Module],
    x: torch.Tensor,
    position: tuple[int, int],
    *,
    channel: int = 0,
    linearize: bool = True,
) -> torch.Tensor:
    """Which input pixels have a non-zero gradient for one output neuron.

    Backpropagates from the neuron at `position` (row, column) of output
    channel `channel` to the input, and marks the pixels (summed over channels)
    whose gradient is not zero.

    With `linearize=True` (the default) the measurement is made on a
    single-channel copy of the stack with the same geometry: every
    convolution keeps its kernel size, stride, padding and dilation but gets
    weights 1 and no bias; every pooling becomes an average over the same
    window (a max pool sends gradient to one winner only); pass-through
    layers become identities. All paths then carry positive gradient, none
    cancels, so the footprint is exactly the set of pixels that *can*
    affect the neuron. With `linearize=False` the layers run as they are, on
    the values of `x`, in whatever mode they are in (call `.eval()` first
    for a trained model): the footprint shows what this input actually used,
    a subset of the receptive field, since ReLU and max pooling block some
    paths.

    Args:
        layers: An `nn.Sequential` or iterable of modules, as for `receptive_field`.
        x: Input shaped (C, H, W) or (1, C, H, W). With `linearize=True` only
            its height and width matter.
        position: (row, column) of the neuron in the stack's output.
        channel: Output channel of the neuron (ignored with `linearize=True`,
            where every channel has the same footprint).
        linearize: Measure on the linearised copy (see above).

    Returns:
        A boolean tensor shaped (H, W), True where the gradient is non-zero.

    Raises:
        IndexError: If `position` lies outside the stack's output.
        TypeError: From the linearised copy, for a layer `receptive_field` rejects.
        ValueError: If `x` is not shaped (C, H, W) or (1, C, H, W), or a
            dilated max pool uses `ceil_mode` (not linearised).

    Examples:
        A 3×3 kernel with dilation 2 touches every other pixel of a 5×5 square:

        >>> fp = gradient_footprint([nn.Conv2d(1, 1, 3, dilation=2)], torch.zeros(1, 9, 9), (2, 2))
        >>> print("\\n".join("".join("#" if v else "-" for v in row) for row in fp.tolist()))
        ---------
        ---------
        --#-#-#--
        ---------
        --#-#-#--
        ---------
        --#-#-#--
        ---------
        ---------
    """
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be shaped (C, H, W) or (1, C, H, W), got {tuple(x.shape)}")
    if linearize:
        net = _linearized(layers)
        x = torch.ones(1, 1, *x.shape[-2:], dtype=torch.float64)
    else:
        net = nn.Sequential(*_flatten(layers))
        x = x.detach().clone()
    x.requires_grad_(True)
    out = net(x)
    row, col = position
    height, width = out.shape[-2:]
    if not (0 <= row < height and 0 <= col < width):
        raise IndexError(f"position {position} is outside the output, which is {height}×{width}")
    # autograd.grad, not backward(): the layers' own .grad stays untouched.
    (grad,) = torch.autograd.grad(out[0, 0 if linearize else channel, row, col], x)
    return grad[0].abs().sum(dim=0) > 0


def measure_receptive_field(
    layers: Iterable[nn.Module], input_size: int, axis: int | None = None
) -> ReceptiveField:
    """Measure a stack's receptive field from gradients, without the recurrence.

    Takes the `gradient_footprint` (linearised) of the central output neuron
    and of its neighbours one row below and one column to the right, on an
    `input_size`×`input_size` input: the footprint's extent is the `size`,
    the shift between neighbours is the `jump`, and `start` follows from the
    central neuron's first pixel. A field with holes (dilation) is measured
    by its extent, as `receptive_field` counts it.

    Args:
        layers: An `nn.Sequential` or iterable of modules.
        input_size: Height and width of the square test input; large enough
            that the central neuron's field does not reach the border and the
            output has at least 2×2 neurons.
        axis: 0 (height) or 1 (width); `None` requires both to agree.

    Returns:
        The measured `ReceptiveField`.

    Raises:
        ValueError: If the output is smaller than 2×2, the field reaches the
            input's border (it could be cut off: use a larger input), or
            `axis` is `None` and height and width differ.

    Examples:
        >>> from cnn_tutorial.models import ConvNet
        >>> measure_receptive_field(ConvNet(widths=(16, 32)).features, input_size=32)
        ReceptiveField(size=10, jump=4, start=-3)
    """
    if axis not in (None, 0, 1):
        raise ValueError(f"axis must be 0 (height), 1 (width) or None, got {axis!r}")
    x = torch.zeros(1, input_size, input_size)
    blank = torch.zeros(1, 1, input_size, input_size, dtype=torch.float64)
    with torch.no_grad():
        out_h, out_w = _linearized(layers)(blank).shape[-2:]
    if out_h < 2 or out_w < 2:
        raise ValueError(
            f"the output is only {out_h}×{out_w} for a {input_size}×{input_size} input; "
            "measuring the jump needs at least 2×2: use a larger input"
        )
    row, col = (out_h - 1) // 2, (out_w - 1) // 2
    (top, bottom), (left, right) = _extent(gradient_footprint(layers, x, (row, col)))
    if min(top, left) == 0 or max(bottom, right) == input_size - 1:
        raise ValueError(
            f"the receptive field reaches the border of the {input_size}×{input_size} input, "
            "so it may be cut off: use a larger input_size"
        )
    jump_h = _extent(gradient_footprint(layers, x, (row + 1, col)))[0][0] - top
    jump_w = _extent(gradient_footprint(layers, x, (row, col + 1)))[1][0] - left
    measured = (
        ReceptiveField(size=bottom - top + 1, jump=jump_h, start=top - row * jump_h),
        ReceptiveField(size=right - left + 1, jump=jump_w, start=left - col * jump_w),
    )
    if axis is not None:
        return measured[axis]
    if measured[0] != measured[1]:
        raise ValueError(
            f"height ({measured[0]}) and width ({measured[1]}) differ; pass axis=0 or axis=1"
        )
    return measured[0]


def _extent(footprint: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
    """(first, last) row and (first, last) column of the True pixels of a footprint."""
    rows, cols = torch.nonzero(footprint, as_tuple=True)
    return (int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max()))


def _ones_window(layer: nn.Module, padding_mode: str = "zeros") -> nn.Conv2d:
    """A 1-channel float64 convolution of all-ones weights with `layer`'s window geometry."""
    window = nn.Conv2d(
        1,
        1,
        kernel_size=layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        bias=False,
        padding_mode=padding_mode,
        dtype=torch.float64,
    )
    nn.init.ones_(window.weight)
    return window


def _linearized(layers: Iterable[nn.Module]) -> nn.Sequential:
    """A single-channel float64 copy of the stack with the same geometry and only positive paths."""
    copies = []
    for layer in _flatten(layers):
        if layer_geometry(layer) is None:  # raises TypeError for a layer we cannot model
            copies.append(nn.Identity())
        elif isinstance(layer, nn.Conv2d):
            copies.append(_ones_window(layer, padding_mode=layer.padding_mode))
        elif isinstance(layer, nn.AvgPool2d):
            copies.append(copy.deepcopy(layer))
        elif _pick(layer.dilation, 0) == 1 and _pick(layer.dilation, 1) == 1:
            # A max pool routes gradient to one winner; an average over the same window reaches all.
            copies.append(
                nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
            )
        else:
            if layer.ceil_mode:
                raise ValueError("cannot linearise a dilated MaxPool2d with ceil_mode=True")
            copies.append(_ones_window(layer))
    net = nn.Sequential(*copies)
    net.requires_grad_(False)
    return net


def _flatten(layers: Iterable[nn.Module]):
    if isinstance(layers, nn.Module) and not isinstance(layers, nn.Sequential):
        layers = [layers]
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            yield from _flatten(layer)
        else:
            yield layer


def _pick(value, axis: int) -> int:
    return value[axis] if isinstance(value, tuple) else value

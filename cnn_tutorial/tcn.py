"""1-D convolutions for sequences: causal and dilated convolutions, a small TCN.

A *causal* convolution pads the sequence on the left only, by
`dilation * (kernel_size - 1)` zeros, so that output `t` is computed from
inputs `t, t - d, t - 2d, …` and never from a later input. Stacking causal
convolutions whose dilations double (1, 2, 4, 8, …) makes the receptive
field grow exponentially with depth:

    receptive field = 1 + Σ dilation_i · (kernel_size_i - 1)

(for stride 1). `TCNClassifier` is such a stack (a *temporal convolutional
network*) that classifies a sequence from its last time step, like a
recurrent network reads its last hidden state. `input_footprint` measures,
from gradients, which inputs an output depends on.
"""

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Conv1d):
    """`nn.Conv1d` padded on the left only, so output `t` depends on inputs `≤ t` alone.

    The output has the same length as the input. Stride is 1.

    Args:
        in_channels: Channels of the input sequence.
        out_channels: Channels of the output sequence.
        kernel_size: Taps of the kernel.
        dilation: Spacing between the taps.

    Examples:
        >>> conv = CausalConv1d(2, 4, kernel_size=3, dilation=2)
        >>> conv.left_padding
        4
        >>> conv(torch.zeros(8, 2, 50)).shape  # (N, C, L) in, same length out
        torch.Size([8, 4, 50])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, padding=0)
        self.left_padding = dilation * (kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve a batch shaped (N, C, L) after padding it on the left."""
        return super().forward(F.pad(x, (self.left_padding, 0)))


def causal_receptive_field(layers: Iterable[nn.Module]) -> int:
    """How many consecutive inputs (the current one and earlier ones) an output of a 1-D stack can see.

    Applies `size += dilation · (kernel_size - 1)` for every `nn.Conv1d`
    (`CausalConv1d` included); other layers (activations, …) leave it
    unchanged. Only stride-1 convolutions are supported.

    Args:
        layers: Modules in the order they are applied; an `nn.Module` is
            searched through all its submodules, in registration order.

    Returns:
        The receptive field in time steps (1 for a stack without convolutions).

    Raises:
        ValueError: If a convolution has a stride other than 1.

    Examples:
        >>> causal_receptive_field([CausalConv1d(1, 1, 2, dilation=d) for d in (1, 2, 4, 8)])
        16
        >>> causal_receptive_field(nn.Sequential(nn.Conv1d(1, 1, 3), nn.ReLU(), nn.Conv1d(1, 1, 3)))
        5
    """
    modules = layers.modules() if isinstance(layers, nn.Module) else layers
    size = 1
    for layer in modules:
        if isinstance(layer, nn.Conv1d):
            if layer.stride[0] != 1:
                raise ValueError(f"only stride 1 is supported, got {layer}")
            size += layer.dilation[0] * (layer.kernel_size[0] - 1)
    return size


def input_footprint(
    model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, position: int
) -> torch.Tensor:
    """Which time steps of the input the output at `position` depends on, from the gradient.

    Backpropagates from the output at time `position` (summed over its
    channels) to the input and marks the time steps whose gradient is not
    zero (summed over the input channels). A causal model marks no step
    after `position`.

    Args:
        model: A module or function mapping (1, C, L) to (1, C', L), one
            output per time step (e.g. `TCNClassifier.features`).
        x: One input shaped (C, L) or (1, C, L).
        position: Time step of the output.

    Returns:
        A boolean tensor shaped (L,).

    Raises:
        ValueError: If `x` is not shaped (C, L) or (1, C, L), or the model
            does not return one output per time step.
        IndexError: If `position` is not a time step of the output.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(1, 10)
        >>> causal = CausalConv1d(1, 1, kernel_size=3)
        >>> input_footprint(causal, x, 5).nonzero().flatten().tolist()
        [3, 4, 5]
        >>> centred = nn.Conv1d(1, 1, kernel_size=3, padding="same")
        >>> input_footprint(centred, x, 5).nonzero().flatten().tolist()  # it sees step 6
        [4, 5, 6]
    """
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be shaped (C, L) or (1, C, L), got {tuple(x.shape)}")
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    if out.dim() != 3 or out.shape[-1] != x.shape[-1]:
        raise ValueError(
            f"the model must return one output per time step, shaped (1, C', {x.shape[-1]}), "
            f"got {tuple(out.shape)}"
        )
    if not 0 <= position < out.shape[-1]:
        raise IndexError(f"position {position} is outside the output's {out.shape[-1]} time steps")
    (grad,) = torch.autograd.grad(out[0, :, position].sum(), x)
    return grad[0].abs().sum(dim=0) > 0


class TCNClassifier(nn.Module):
    """A small temporal convolutional network: causal dilated convolutions, read out at the last step.

    1. `embed`: `Conv1d(in_channels, channels, 1)`, a per-step linear map
       to `channels` features;
    2. one residual block per dilation `d`:
       `h = h + ReLU(CausalConv1d(channels, channels, kernel_size, d)(h))`;
       the residual path lets each block add to what the earlier ones found;
    3. `classifier`: `Linear(channels, num_classes)` on the features of the
       **last** time step, which sees `receptive_field` steps back.

    Args:
        in_channels: Channels of the input sequences, `C`.
        num_classes: Number of output scores.
        channels: Features per time step inside the network.
        kernel_size: Taps of every causal convolution.
        dilations: One block per entry; doubling dilations (1, 2, 4, …)
            cover `1 + (kernel_size - 1) · Σ dilations` steps.

    Raises:
        ValueError: If `dilations` is empty, or (from `forward`) the input
            is not shaped (N, in_channels, L).

    Examples:
        >>> model = TCNClassifier(in_channels=6, num_classes=4, kernel_size=2, dilations=(1, 2, 4, 8, 16))
        >>> model.receptive_field
        32
        >>> model(torch.zeros(3, 6, 32)).shape
        torch.Size([3, 4])
        >>> model.features(torch.zeros(3, 6, 32)).shape  # one feature vector per time step
        torch.Size([3, 32, 32])
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: int = 32,
        kernel_size: int = 2,
        dilations: Sequence[int] = (1, 2, 4, 8),
    ) -> None:
        super().__init__()
        if not dilations:
            raise ValueError("TCNClassifier needs at least one dilation, got an empty sequence")
        self.in_channels = in_channels
        self.embed = nn.Conv1d(in_channels, channels, kernel_size=1)
        self.blocks = nn.ModuleList(CausalConv1d(channels, channels, kernel_size, d) for d in dilations)
        self.classifier = nn.Linear(channels, num_classes)

    @property
    def receptive_field(self) -> int:
        """Time steps the last output sees: the current one and `receptive_field - 1` before it."""
        return causal_receptive_field(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features shaped (N, channels, L): at step `t`, computed from inputs `≤ t` only."""
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"TCNClassifier expects sequences shaped (N, {self.in_channels}, L), got {tuple(x.shape)}"
            )
        h = self.embed(x)
        for block in self.blocks:
            h = h + F.relu(block(h))
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits shaped (N, num_classes) for sequences shaped (N, C, L)."""
        return self.classifier(self.features(x)[:, :, -1])

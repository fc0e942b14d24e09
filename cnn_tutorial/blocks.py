"""Reusable building blocks: a multilayer perceptron, a convolution block and a residual wrapper.

中文：可复用的网络部件：多层感知机、卷积块与残差连接。

A *block* is a small `nn.Module` that bundles a few layers which always come
together. Networks are then written as a sequence of blocks instead of a long
list of layers. `MLP` is itself an `nn.Sequential`, built from a list of
widths; `ConvBlock` is written out as a subclass of `nn.Module` with its own
`forward`, the general way to define a layer. `Residual` wraps any block
that keeps its input shape and adds a skip connection around it.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Sequential):
    """A multilayer perceptron: flatten, then `Linear → ReLU (→ Dropout)` per hidden layer, then `Linear`.

    The input is flattened first, so an MLP accepts images (N, C, H, W) as
    well as feature vectors (N, F). The last layer outputs raw scores
    (logits): train it with `nn.CrossEntropyLoss` (or `nn.BCEWithLogitsLoss`
    for one output), which apply the softmax (sigmoid) themselves.

    Args:
        in_features: Numbers per example after flattening (64 for an 8×8 digit).
        hidden: Width of each hidden layer; `()` gives a linear model.
        out_features: Number of outputs (classes).
        dropout: Dropout probability after each hidden ReLU (0 adds no Dropout layers).

    Raises:
        ValueError: If a width is less than 1 or `dropout` is not in [0, 1).

    Examples:
        >>> model = MLP(64, hidden=(32,), out_features=10)
        >>> model
        MLP(
          (0): Flatten(start_dim=1, end_dim=-1)
          (1): Linear(in_features=64, out_features=32, bias=True)
          (2): ReLU()
          (3): Linear(in_features=32, out_features=10, bias=True)
        )
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
        >>> len(MLP(64, hidden=(32, 32), out_features=10, dropout=0.5))  # two Dropout layers added
        8
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (64,),
        out_features: int = 10,
        dropout: float = 0.0,
    ) -> None:
        widths = [in_features, *hidden, out_features]
        if min(widths) < 1:
            raise ValueError(f"every layer width must be >= 1, got {widths}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        for width_in, width_out in zip(widths[:-2], widths[1:-1]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(widths[-2], widths[-1]))
        super().__init__(*layers)


class ConvBlock(nn.Module):
    """3×3 convolution → batch normalization → ReLU, optionally followed by 2×2 max pooling.

    With padding 1 the convolution keeps the height and width; pooling halves
    them. The convolution has no bias because the batch normalization right
    after it subtracts the mean anyway and adds its own shift (`bn.bias`).

    Args:
        in_channels: Channels of the input feature maps.
        out_channels: Channels (feature maps) the block outputs.
        pool: Halve the height and width with `MaxPool2d(2)` at the end.

    Examples:
        >>> block = ConvBlock(1, 8)
        >>> block(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 8, 4, 4])
        >>> ConvBlock(8, 16, pool=False)(torch.zeros(4, 8, 4, 4)).shape
        torch.Size([4, 16, 4, 4])
        >>> [name for name, _ in block.named_parameters()]
        ['conv.weight', 'bn.weight', 'bn.bias']
    """

    def __init__(self, in_channels: int, out_channels: int, pool: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps (N, out_channels, H', W') for input (N, in_channels, H, W)."""
        return self.pool(F.relu(self.bn(self.conv(x))))


class Residual(nn.Module):
    """Add a block's input to its output: `x + block(x)` (a skip connection, as in ResNet).

    The wrapped block must keep the shape of its input. Because the identity
    path passes gradients straight through, stacks of residual blocks can be
    made much deeper than plain stacks and still train.

    Args:
        block: Any module whose output has the same shape as its input,
            e.g. `ConvBlock(16, 16, pool=False)`.

    Raises:
        ValueError: From `forward`, if the block changes the shape.

    Examples:
        >>> skip = Residual(ConvBlock(8, 8, pool=False))
        >>> skip(torch.zeros(2, 8, 4, 4)).shape
        torch.Size([2, 8, 4, 4])
        >>> Residual(ConvBlock(8, 8))(torch.zeros(2, 8, 4, 4))
        Traceback (most recent call last):
            ...
        ValueError: Residual needs a block that keeps the shape: got (2, 8, 4, 4) in, (2, 8, 2, 2) out
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x + block(x)`."""
        out = self.block(x)
        if out.shape != x.shape:
            raise ValueError(
                f"Residual needs a block that keeps the shape: got {tuple(x.shape)} in, {tuple(out.shape)} out"
            )
        return x + out

"""The networks the chapters build.

中文：各章搭建的网络，从种子章节的 `SimpleCNN` 开始。

`SimpleCNN` is the seed chapter's network, layer for layer. Read it top to
bottom: `__init__` lists the layers, `forward` says how data flows through them.
`DigitCNN` is the same design scaled down to the 8×8 digits (the command
line's default for them). `ConvNet` is the modern shape
the later chapters use: a stack of convolution blocks that extract features,
then global average pooling and one linear classifier; `GreyConvNet` is it
for MNIST's grey 28×28 digits (the command line's model for MNIST).
"""

import torch
import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    """The seed chapter's convolutional network, for 3×32×32 images.

    Layers, in order (the shapes are for a batch of N images):

    | layer | output shape |
    |---|---|
    | input | (N, 3, 32, 32) |
    | `conv1`: `Conv2d(3, 18, kernel_size=3, stride=1, padding=1)`, then ReLU | (N, 18, 32, 32) |
    | `pool`: `MaxPool2d(kernel_size=2, stride=2)` | (N, 18, 16, 16) |
    | `flatten` | (N, 4608) |
    | `fc1`: `Linear(4608, 64)`, then ReLU | (N, 64) |
    | `fc2`: `Linear(64, 10)` | (N, 10) |

    The output holds one score (a logit) per class; train it with
    `nn.CrossEntropyLoss`, which applies the softmax itself.

    Args:
        num_classes: Number of output scores.

    Raises:
        ValueError: From `forward`, if the input is not shaped (N, 3, 32, 32).

    Examples:
        >>> import torch
        >>> from cnn_tutorial.models import SimpleCNN
        >>> model = SimpleCNN()
        >>> model(torch.zeros(8, 3, 32, 32)).shape
        torch.Size([8, 10])
        >>> sum(p.numel() for p in model.parameters())
        296130

        A single image still needs its batch dimension:

        >>> model(torch.zeros(3, 32, 32))
        Traceback (most recent call last):
            ...
        ValueError: SimpleCNN expects input of shape (N, 3, 32, 32), got (3, 32, 32)
    """

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 18, kernel_size=3, stride=1, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2, padding=0)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(18 * 16 * 16, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores for a batch of images.

        Args:
            x: Images shaped (N, 3, 32, 32).

        Returns:
            Logits shaped (N, num_classes).
        """
        check_input_shape(x, self.input_shape, type(self).__name__)
        x = F.relu(self.conv1(x))
        x = self.pool(x)
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class DigitCNN(nn.Module):
    """A small convolutional network for 8×8 grey digits (scikit-learn's digits).

    Same pattern as `SimpleCNN`: one convolution, max pooling, two fully
    connected layers.

    | layer | output shape |
    |---|---|
    | input | (N, 1, 8, 8) |
    | `conv1`: `Conv2d(1, 8, kernel_size=3, padding=1)`, then ReLU | (N, 8, 8, 8) |
    | `pool`: `MaxPool2d(2, 2)` | (N, 8, 4, 4) |
    | `flatten` | (N, 128) |
    | `fc1`: `Linear(128, 32)`, then ReLU | (N, 32) |
    | `fc2`: `Linear(32, 10)` | (N, 10) |

    Args:
        channels: Feature maps in the convolution.
        hidden: Neurons in the hidden fully connected layer.

    Raises:
        ValueError: From `forward`, if the input is not shaped (N, 1, 8, 8).

    Examples:
        >>> model = DigitCNN()
        >>> model(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 10])
        >>> sum(p.numel() for p in model.parameters())
        4538
    """

    input_shape = (1, 8, 8)

    def __init__(self, channels: int = 8, hidden: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(channels * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (logits) for a batch of digits shaped (N, 1, 8, 8) with values in [0, 1]."""
        check_input_shape(x, self.input_shape, type(self).__name__)
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.fc1(self.flatten(x)))
        return self.fc2(x)


class ConvNet(nn.Module):
    """Convolution blocks, global average pooling, then a linear classifier.

    Each block is `Conv2d(3×3, padding 1) → ReLU → MaxPool2d(2)`, halving the
    height and width. Global average pooling then turns each final feature
    map into one number, so the classifier has only `widths[-1] × classes`
    weights — compare `SimpleCNN`, whose `fc1` holds 99.6 % of its
    parameters. `features` and `classifier` are separate attributes, so a
    chapter can freeze the features and train a new classifier (transfer
    learning).

    Args:
        in_channels: Channels of the input images (3 for color, 1 for grey).
        num_classes: Number of output scores.
        widths: Output channels of each block; one block per entry.
        dropout: Dropout probability before the classifier (0 disables it).

    Examples:
        >>> model = ConvNet(in_channels=3, widths=(16, 32))
        >>> model(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
        >>> sum(p.numel() for p in model.parameters())
        5418
        >>> model.features(torch.zeros(2, 3, 32, 32)).shape  # two blocks: 32 → 16 → 8
        torch.Size([2, 32, 8, 8])
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        widths: tuple[int, ...] = (16, 32),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("ConvNet needs at least one block width, got an empty tuple")
        layers, channels = [], in_channels
        for width in widths:  # each block keeps the size through the convolution, then halves it
            layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1], num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits shaped (N, num_classes) for images shaped (N, in_channels, H, W)."""
        if x.dim() != 4:
            raise ValueError(f"ConvNet expects a batch shaped (N, C, H, W), got {tuple(x.shape)}")
        return self.classifier(self.features(x))


class GreyConvNet(ConvNet):
    """`ConvNet` with one input channel, for MNIST's 1×28×28 digits (28 → 14 → 7, then global pooling).

    Examples:
        >>> GreyConvNet()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(in_channels=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits shaped (N, 10) for digits shaped (N, 1, 28, 28)."""
        check_input_shape(x, self.input_shape, type(self).__name__)
        return super().forward(x)


def check_input_shape(x: torch.Tensor, sample_shape: tuple[int, ...], model_name: str) -> None:
    """Raise a clear error unless `x` is a batch of samples shaped `sample_shape`.

    Args:
        x: The input a model received.
        sample_shape: The shape of one sample, without the batch dimension.
        model_name: Named in the error message.

    Raises:
        TypeError: If `x` is not a tensor.
        ValueError: If `x` is not shaped (N, *sample_shape).

    Examples:
        >>> check_input_shape(torch.zeros(2, 1, 8, 8), (1, 8, 8), "Net")
        >>> check_input_shape(torch.zeros(2, 8, 8), (1, 8, 8), "Net")
        Traceback (most recent call last):
            ...
        ValueError: Net expects input of shape (N, 1, 8, 8), got (2, 8, 8)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{model_name} expects a torch.Tensor, got {type(x).__name__}")
    if x.dim() != len(sample_shape) + 1 or tuple(x.shape[1:]) != tuple(sample_shape):
        expected = ", ".join(str(d) for d in ("N", *sample_shape))
        raise ValueError(f"{model_name} expects input of shape ({expected}), got {tuple(x.shape)}")

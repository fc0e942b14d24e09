"""Output sizes of convolution and pooling layers.

中文：卷积层与池化层的输出尺寸。

One formula covers both: a window of `kernel_size` elements, spread out by
`dilation`, slides over the input padded with `padding` on each side, moving
`stride` elements at a time. PyTorch documents it for `nn.Conv2d`:

    out = floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
"""

import math


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> int:
    """Length of one spatial dimension after a convolution.

    Apply it to the height and to the width separately; the arguments mean
    what they mean for `torch.nn.Conv2d`.

    Args:
        size: Input length (height or width) in elements.
        kernel_size: Window length.
        stride: Step between two windows.
        padding: Zeros added on each side.
        dilation: Spacing between the window's elements (1 = contiguous).

    Returns:
        The output length.

    Raises:
        ValueError: If an argument is out of range or the window does not fit
            into the padded input.

    Examples:
        The seed's first layer keeps 32×32 (a 3×3 kernel with padding 1):

        >>> conv_output_size(32, kernel_size=3, stride=1, padding=1)
        32

        Without padding each 3×3 convolution trims one pixel per side:

        >>> conv_output_size(32, kernel_size=3)
        30
        >>> conv_output_size(32, kernel_size=3, stride=2, dilation=2)
        14
    """
    _check_ints(size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    _check_ints(minimum=0, padding=padding)
    span = dilation * (kernel_size - 1) + 1
    if size + 2 * padding < span:
        raise _window_error(span, size, padding)
    return (size + 2 * padding - span) // stride + 1


def pool_output_size(
    size: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Length of one spatial dimension after max or average pooling.

    Same formula as `conv_output_size`, with PyTorch's pooling defaults:
    `stride` defaults to `kernel_size`, and `ceil_mode=True` rounds up
    (a last, partial window is kept if it starts inside the input or the
    left padding).

    Args:
        size: Input length (height or width).
        kernel_size: Window length.
        stride: Step between windows; `None` means `kernel_size`.
        padding: Implicit padding on each side (at most half the kernel).
        dilation: Spacing between window elements.
        ceil_mode: Round up instead of down, as `nn.MaxPool2d(ceil_mode=True)`.

    Returns:
        The output length.

    Raises:
        ValueError: If an argument is out of range.

    Examples:
        The seed's `MaxPool2d(2, 2)` halves 32 to 16:

        >>> pool_output_size(32, kernel_size=2, stride=2)
        16
        >>> pool_output_size(7, kernel_size=2)
        3
        >>> pool_output_size(7, kernel_size=2, ceil_mode=True)
        4
    """
    stride = kernel_size if stride is None else stride
    _check_ints(size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    _check_ints(minimum=0, padding=padding)
    if padding > kernel_size // 2:
        raise ValueError(
            f"padding must be between 0 and kernel_size // 2 = {kernel_size // 2}, got {padding}"
        )
    span = dilation * (kernel_size - 1) + 1
    steps = (size + 2 * padding - span) / stride
    out = (math.ceil(steps) if ceil_mode else math.floor(steps)) + 1
    # With ceil_mode PyTorch keeps a last, partial window, unless it would start in the right padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise _window_error(span, size, padding)
    return out


def _check_ints(minimum: int = 1, **values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _window_error(span: int, size: int, padding: int) -> ValueError:
    return ValueError(
        f"the window spans {span} elements but the padded input has only "
        f"{size + 2 * padding} (size={size}, padding={padding})"
    )

"""Derivatives by finite differences, to check gradients from autograd or from a hand derivation.

Autograd differentiates exactly the operations it recorded, up to rounding.
A finite difference knows nothing about those operations: it only evaluates
the function twice per element, a little to each side of the point,

    df/dx_i ≈ (f(x + eps·e_i) - f(x - eps·e_i)) / (2·eps),

so when the two agree, the gradient is very likely right. The central
difference's error shrinks like eps², until rounding (about 1e-16 relative
in float64, 1e-7 in float32) divided by eps takes over; that is why the
check runs in float64.
"""

from collections.abc import Callable

import torch


def numerical_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Central-difference estimate of the gradient of a scalar function at `x`.

    `f` is called on float64 copies of `x` in which one element at a time is
    moved by `+eps` and `-eps`, without recording a graph. Anything else `f`
    computes with (weights, data) should be float64 as well, or float32
    rounding swamps the tiny differences.

    Args:
        f: A function of one tensor shaped like `x` that returns a tensor with
            a single element (a loss, say).
        x: The point, a floating-point tensor of any shape.
        eps: The step on each side, > 0. About 1e-6 suits float64.

    Returns:
        A float64 tensor shaped like `x`: the estimated ∂f/∂x.

    Raises:
        TypeError: If `x` is not a floating-point tensor or `f` does not
            return a tensor.
        ValueError: If `eps` is not positive or `f` returns more than one element.

    Examples:
        The gradient of `(x ** 2).sum()` is `2 * x`:

        >>> import torch
        >>> numerical_gradient(lambda x: (x ** 2).sum(), torch.tensor([1.0, -2.0, 3.0])).round(decimals=6)
        tensor([ 2., -4.,  6.], dtype=torch.float64)

        It agrees with autograd:

        >>> x = torch.tensor([[0.5, 1.0], [1.5, 2.0]], dtype=torch.float64, requires_grad=True)
        >>> torch.sin(x).prod().backward()
        >>> estimate = numerical_gradient(lambda x: torch.sin(x).prod(), x)
        >>> max_relative_error(estimate, x.grad) < 1e-8
        True
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating-point tensor, got {kind}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    point = x.detach().to(torch.float64).clone()
    gradient = torch.empty_like(point)
    flat_point, flat_gradient = point.view(-1), gradient.view(-1)
    with torch.no_grad():
        for i in range(flat_point.numel()):
            original = flat_point[i].item()
            flat_point[i] = original + eps
            above = _scalar(f(point))
            flat_point[i] = original - eps
            below = _scalar(f(point))
            flat_point[i] = original
            flat_gradient[i] = (above - below) / (2 * eps)
    return gradient


def max_relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """The largest difference between two tensors, relative to their size.

    It is `max|actual - expected| / max(max|actual|, max|expected|)`: about
    1e-16 means the two agree to float64 rounding, about 1e-7 to float32
    rounding, and 1e-2 means a bug (or a step `eps` far too large).

    Args:
        actual: A tensor.
        expected: A tensor of the same shape.

    Returns:
        The relative error, a Python float; 0.0 when both are all zeros.

    Raises:
        ValueError: If the shapes differ.

    Examples:
        >>> import torch
        >>> max_relative_error(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.02]))
        0.0099...
        >>> max_relative_error(torch.zeros(3), torch.zeros(3))
        0.0
    """
    if actual.shape != expected.shape:
        raise ValueError(
            f"the tensors must have the same shape, got {tuple(actual.shape)} and {tuple(expected.shape)}"
        )
    a, b = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
    scale = max(a.abs().max().item(), b.abs().max().item()) if a.numel() else 0.0
    return 0.0 if scale == 0.0 else (a - b).abs().max().item() / scale


def _scalar(value) -> float:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"f must return a tensor with one element, got {type(value).__name__}")
    if value.numel() != 1:
        raise ValueError(f"f must return a tensor with one element, got shape {tuple(value.shape)}")
    return value.item()

"""Seeding the random generators and choosing a device: what every chapter needs before it trains.

中文：设定随机种子与选择设备：每一章训练之前都要用到的两件事。

These helpers live apart from the training loop (`cnn_tutorial.training`) so
that a chapter that only seeds its generators or picks a device does not
depend on the loop: the build re-executes a chapter when a module it
imports changes, and this module rarely does.
"""

import operator
import os
import random

import numpy as np
import torch
from torch import nn

def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators.

    Call it before building a model so that its initial weights, and
    therefore every number after training, are the same on every run.

    Args:
        seed: An integer from 0 to 2**32 - 1 (the range NumPy accepts).

    Raises:
        ValueError: If `seed` is not an integer in that range.

    Examples:
        >>> set_seed(0); a = torch.rand(2)
        >>> set_seed(0); b = torch.rand(2)
        >>> torch.equal(a, b)
        True
        >>> set_seed(-1)
        Traceback (most recent call last):
            ...
        ValueError: the seed must be an integer from 0 to 2**32 - 1, got -1
    """
    original = seed
    try:
        seed = operator.index(seed)  # an int, or a NumPy integer
    except TypeError:
        seed = None
    if seed is None or not 0 <= seed < 2**32:
        raise ValueError(f"the seed must be an integer from 0 to 2**32 - 1, got {original!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(preferred: str | torch.device | None = None) -> torch.device:
    """The device to train on: CUDA if present, else Apple's MPS, else the CPU.

    Args:
        preferred: `"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"` (or a `torch.device`),
            or `None` to choose automatically. The environment variable
            `CNN_TUTORIAL_DEVICE` is used when `preferred` is `None`.

    Returns:
        A `torch.device`.

    Raises:
        ValueError: If the requested device is not available on this machine.

    Examples:
        >>> pick_device("cpu")
        device(type='cpu')
        >>> pick_device("gpu")
        Traceback (most recent call last):
            ...
        ValueError: 'gpu' is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'
    """
    preferred = preferred or os.environ.get("CNN_TUTORIAL_DEVICE") or None
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preferred)
    except RuntimeError:
        raise ValueError(f"{preferred!r} is not a device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        usable = ", ".join(name for name, ok in available.items() if ok)
        raise ValueError(f"device {str(preferred)!r} is not available here; available: {usable}")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (the CPU for a model without parameters).

    Examples:
        >>> model_device(nn.Linear(2, 1)), model_device(nn.ReLU())
        (device(type='cpu'), device(type='cpu'))
    """
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")

"""Training and evaluating a classifier: seeding, device choice, `fit`, `evaluate`.

`fit` is the plain PyTorch training loop every chapter uses — forward pass,
loss, `backward`, optimizer step — plus a progress bar and a per-epoch
history, so the chapters can focus on the model and the data.
"""

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators.

    Call it before building a model so that its initial weights, and
    therefore every number after training, are the same on every run.

    Args:
        seed: Any integer.

    Examples:
        >>> set_seed(0); a = torch.rand(2)
        >>> set_seed(0); b = torch.rand(2)
        >>> torch.equal(a, b)
        True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(preferred: str | None = None) -> torch.device:
    """The device to train on: CUDA if present, else Apple's MPS, else the CPU.

    Args:
        preferred: `"cpu"`, `"cuda"`, `"cuda:1"`, `"mps"`, or `None` to choose
            automatically. The environment variable `CNN_TUTORIAL_DEVICE` is
            used when `preferred` is `None`.

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
        raise ValueError(f"device {preferred!r} is not available here; available: {usable}")
    return device


class Evaluation(NamedTuple):
    """Mean loss and accuracy of a model on a data set."""

    loss: float
    accuracy: float


@dataclass
class History:
    """Per-epoch record of a training run; one list entry per epoch.

    Attributes:
        train_loss: Mean training loss over each epoch's batches.
        train_accuracy: Share of training images classified correctly during the epoch.
        test_loss: Loss on the evaluation set after each epoch (empty without one).
        test_accuracy: Accuracy on the evaluation set after each epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def table(self) -> str:
        """The history as a plain-text table, one row per epoch."""
        has_test = bool(self.test_loss)
        header = "epoch  train_loss  train_acc" + ("  test_loss  test_acc" if has_test else "")
        rows = [header]
        for i in range(self.epochs):
            row = f"{i + 1:5d}  {self.train_loss[i]:10.4f}  {self.train_accuracy[i]:9.2%}"
            if has_test:
                row += f"  {self.test_loss[i]:9.4f}  {self.test_accuracy[i]:8.2%}"
            rows.append(row)
        return "\n".join(rows)


def fit(
    model: nn.Module,
    train_set: Dataset,
    *,
    epochs: int,
    test_set: Dataset | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    schedule: str | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> History:
    """Train a classifier with Adam (or AdamW) and cross-entropy, one epoch at a time.

    The batches are shuffled by a generator seeded with `seed`, so two calls
    with the same model initialisation give the same history.

    The regularisers the chapters compare are options here, so each can be
    switched on alone: `weight_decay` (decoupled, as in AdamW), a learning-rate
    `schedule`, and `augment`, a function applied to every training batch
    (see `cnn_tutorial.augment`). Dropout belongs to the model.

    Args:
        model: A module mapping a batch of inputs to class scores (logits).
        train_set: Yields `(input, label)` pairs.
        epochs: Passes over `train_set`.
        test_set: Evaluated after every epoch when given.
        batch_size: Images per optimisation step.
        lr: Adam's (initial) learning rate.
        weight_decay: AdamW's decoupled weight decay; 0 means plain Adam.
        schedule: `None` (constant rate), `"cosine"` (cosine decay to 0 over
            all epochs) or `"step"` (divide by 10 after half of the epochs).
        augment: Called on each training batch of inputs (on `device`), e.g.
            random flips and shifts; never applied to `test_set`.
        seed: Seed of the shuffling.
        device: Where to train; `None` picks one with `pick_device`.
        progress: Show a progress bar; `None` shows it only in a terminal.

    Returns:
        The per-epoch `History`.

    Raises:
        ValueError: If `epochs` or `batch_size` is less than 1, or `schedule` is unknown.

    Examples:
        >>> from torch import nn
        >>> from cnn_tutorial.data import load_digits
        >>> set_seed(0)
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> history = fit(model, load_digits("train"), epochs=3, test_set=load_digits("test"),
        ...               lr=0.01, device="cpu", progress=False)
        >>> history.epochs
        3
        >>> history.test_accuracy[-1] > 0.85  # a linear model already does well on 8×8 digits
        True
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    if weight_decay:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = _make_scheduler(optimizer, schedule, epochs)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    history = History()
    show = None if progress is None else not progress  # tqdm: disable=None means "only on a TTY"
    for epoch in range(epochs):
        model.train()
        # Running sums stay tensors: an .item() per batch would cost a synchronisation on a GPU
        # and, on small models, a noticeable share of each step on a CPU.
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        batches = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=show)
        for inputs, labels in batches:
            inputs, labels = inputs.to(device), labels.to(device)
            if augment is not None:
                inputs = augment(inputs)
            logits = model(inputs)
            loss = loss_fn(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(labels)
            correct += (logits.argmax(dim=1) == labels).sum()
            seen += len(labels)
        if scheduler is not None:
            scheduler.step()
        history.train_loss.append(total_loss.item() / seen)
        history.train_accuracy.append(correct.item() / seen)
        if test_set is not None:
            result = evaluate(model, test_set, device=device)
            history.test_loss.append(result.loss)
            history.test_accuracy.append(result.accuracy)
    return history


SCHEDULES = (None, "cosine", "step")


def _make_scheduler(optimizer, schedule: str | None, epochs: int):
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 2), gamma=0.1)
    return None


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Mean cross-entropy loss and accuracy of `model` on `dataset`.

    The model is put in evaluation mode (dropout off, batch norm frozen).

    Args:
        model: A classifier returning logits.
        dataset: Yields `(input, label)` pairs.
        batch_size: Images per forward pass (no effect on the result).
        device: Where to run; `None` uses the device the model is on.

    Returns:
        An `Evaluation(loss, accuracy)`.

    Raises:
        ValueError: If `dataset` is empty.

    Examples:
        >>> from torch import nn
        >>> from cnn_tutorial.data import load_digits
        >>> always_zero = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> nn.init.zeros_(always_zero[1].weight); nn.init.zeros_(always_zero[1].bias)
        Parameter containing: ...
        >>> result = evaluate(always_zero, load_digits("test"))
        >>> round(result.accuracy, 2)  # ties go to class 0, one digit in ten
        0.1
    """
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    model.to(device)
    model.eval()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    total_loss, correct = 0.0, 0
    for inputs, labels in DataLoader(dataset, batch_size=batch_size):
        inputs, labels = inputs.to(device), labels.to(device)
        logits = model(inputs)
        total_loss += loss_fn(logits, labels).item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
    return Evaluation(total_loss / len(dataset), correct / len(dataset))

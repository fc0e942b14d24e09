"""Saving and resuming a training run: weights, optimizer, history and random state.

中文：保存与恢复一次训练：权重、优化器、训练记录与随机状态。

A checkpoint holds everything the next epoch depends on, so a run that stops
after epoch 2 and resumes reaches exactly the weights of a run that never
stopped: the model's and the optimizer's `state_dict` (Adam keeps running
averages of every gradient), the epochs done, the `History`, and the state
of Python's, NumPy's and PyTorch's random generators.

`save_checkpoint` writes atomically: to a temporary file in the same folder,
flushed to disk, then renamed over the old checkpoint. A rename within one
folder replaces the file in one step, so a run killed at any moment leaves
either the previous checkpoint or the new one, never half a file.

`load_checkpoint` puts a checkpoint back into a model and optimizer;
`read_checkpoint` only reads it (to see which model it needs first), and
`restore_checkpoint` applies what it read. They fail with one clear message
for a missing, truncated or foreign file. `check_resumable` is the one check
that a run may continue a checkpoint (same settings, no more epochs done than
asked for); `cnn_tutorial.training.fit` and the command line both use it,
and it raises `ResumeError`.

The order of the training batches is not stored: `training.ShardedBatchSampler`
derives it from the seed and the epoch number, which the checkpoint holds.
"""

import os
import pickle
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnn_tutorial.history import History

FORMAT = "cnn-tutorial-checkpoint/1"


@dataclass
class Checkpoint:
    """What `load_checkpoint` read besides the weights and optimizer state.

    Attributes:
        epoch: Epochs completed when the checkpoint was saved.
        history: The run's per-epoch `History` up to `epoch`.
        extra: The `extra` dictionary given to `save_checkpoint` (settings, timings…).
        rng_state: Random generator states; pass to `set_rng_state` to continue them.
    """

    epoch: int
    history: History
    extra: dict[str, Any] = field(default_factory=dict)
    rng_state: dict[str, Any] = field(default_factory=dict)


def get_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and PyTorch's global random generators.

    Returned as plain lists, numbers and tensors, so `torch.load` can read
    it back with `weights_only=True`.

    Examples:
        >>> state = get_rng_state()
        >>> a = torch.rand(2), np.random.rand(), random.random()
        >>> set_rng_state(state)
        >>> b = torch.rand(2), np.random.rand(), random.random()
        >>> torch.equal(a[0], b[0]) and a[1:] == b[1:]
        True
    """
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, keys.tolist(), position, has_gauss, cached_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states returned by `get_rng_state`.

    Args:
        state: A dictionary from `get_rng_state` (or `Checkpoint.rng_state`).

    Examples:
        >>> state = get_rng_state(); first = torch.rand(1)
        >>> set_rng_state(state); torch.equal(first, torch.rand(1))
        True
    """
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, position, has_gauss, cached_gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    history: History,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a training run's state to `path`, atomically.

    The file is first written to a temporary file next to `path`, flushed
    to disk (`os.fsync`), then renamed over `path` with `os.replace`. If
    writing fails the temporary file is removed and the previous checkpoint
    is untouched. (A process killed outright, e.g. by `kill -9`, can leave a
    temporary `.checkpoint.pt.tmp-<pid>` file behind, but never a broken
    `path`.)

    Args:
        path: Where to write; missing parent folders are created.
        model: Its `state_dict` is saved (unwrap a `DistributedDataParallel`
            model first, so the checkpoint loads into a plain one).
        optimizer: Its `state_dict` is saved.
        epoch: Epochs completed.
        history: The per-epoch history so far.
        extra: Anything else `torch.load(weights_only=True)` can read back:
            numbers, strings, lists, dictionaries, tensors.

    Returns:
        `path`, as a `Path`.

    Examples:
        >>> import tempfile
        >>> model = nn.Linear(2, 1)
        >>> optimizer = torch.optim.Adam(model.parameters())
        >>> folder = tempfile.mkdtemp()
        >>> path = save_checkpoint(f"{folder}/checkpoint.pt", model, optimizer, 1, History([0.5], [0.9]))
        >>> sorted(p.name for p in path.parent.iterdir())  # no temporary file left
        ['checkpoint.pt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": asdict(history),
        "extra": extra or {},
        "rng_state": get_rng_state(),
    }
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw contents of a checkpoint file, checked to be one; tensors on the CPU.

    Use it to look inside a checkpoint (its `epoch`, its `extra` settings)
    before building the model to load it into; `load_checkpoint` reads it
    and applies it. The file is read with `weights_only=True`: a checkpoint
    is data, and reading it never runs code stored in it.

    Args:
        path: A file written by `save_checkpoint`.

    Returns:
        A dictionary with keys `format`, `epoch`, `model`, `optimizer`,
        `history`, `extra` and `rng_state`.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If `path` is not a complete checkpoint (truncated,
            corrupt, another kind of file).

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "c.pt"
        >>> model = nn.Linear(2, 1)
        >>> read_checkpoint(save_checkpoint(path, model, torch.optim.Adam(model.parameters()), 4, History()))["epoch"]
        4
        >>> _ = path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
        >>> read_checkpoint(path)
        Traceback (most recent call last):
            ...
        ValueError: ...c.pt is not a readable checkpoint (truncated or corrupt?); expected a checkpoint written by ...
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    expected = "a checkpoint written by save_checkpoint"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    # A damaged file raises one of these, depending on where it breaks; anything else is a bug and keeps its traceback.
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise ValueError(
            f"{path} is not a readable checkpoint (truncated or corrupt?); expected {expected}: {reason}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cnn_tutorial checkpoint; expected {expected} (format {FORMAT!r})")
    return state


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
) -> Checkpoint:
    """Load a checkpoint written by `save_checkpoint` into `model` (and `optimizer`).

    Tensors are read onto the CPU, then copied to wherever `model`'s
    parameters are. The random state is returned, not applied: only a
    resumed training run wants it (see `set_rng_state`).

    Args:
        path: A file written by `save_checkpoint`.
        model: Receives the weights; must be the same architecture.
        optimizer: Receives the optimizer state, if given.

    Returns:
        The epoch, history, extra settings and random state.

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If `path` is not a complete checkpoint (truncated,
            corrupt, another kind of file) or its weights do not fit `model`.

    Examples:
        >>> import tempfile
        >>> original, copy = nn.Linear(2, 1), nn.Linear(2, 1)
        >>> path = save_checkpoint(tempfile.mkdtemp() + "/c.pt", original,
        ...                        torch.optim.Adam(original.parameters()), 3, History(), {"lr": 0.01})
        >>> checkpoint = load_checkpoint(path, copy)
        >>> checkpoint.epoch, checkpoint.extra, torch.equal(copy.weight, original.weight)
        (3, {'lr': 0.01}, True)
        >>> load_checkpoint(path, nn.Linear(3, 1))
        Traceback (most recent call last):
            ...
        ValueError: ...c.pt does not fit Linear: Error(s) in loading state_dict for Linear: size mismatch ...
        >>> load_checkpoint("missing.pt", copy)
        Traceback (most recent call last):
            ...
        FileNotFoundError: no checkpoint at missing.pt
    """
    return restore_checkpoint(read_checkpoint(path), model, optimizer, path=path)


def restore_checkpoint(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    path: str | Path = "the checkpoint",
) -> Checkpoint:
    """Apply what `read_checkpoint` returned to `model` (and `optimizer`).

    `load_checkpoint` is `read_checkpoint` followed by this; call the two
    separately to look at a checkpoint (e.g. `check_resumable`) before
    changing the model, without reading the file twice.

    Args:
        state: From `read_checkpoint`.
        model: Receives the weights; must be the same architecture.
        optimizer: Receives the optimizer state, if given.
        path: Where `state` came from, for error messages.

    Returns:
        The epoch, history, extra settings and random state.

    Raises:
        ValueError: If the weights or the optimizer state do not fit.
    """
    try:
        model.load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        message = " ".join(str(error).split())[:300]  # load_state_dict lists every mismatch on its own line
        raise ValueError(f"{path} does not fit {type(model).__name__}: {message}") from None
    return Checkpoint(
        epoch=state["epoch"],
        history=History(**state["history"]),
        extra=state["extra"],
        rng_state=state["rng_state"],
    )


class ResumeError(ValueError):
    """A run cannot continue a checkpoint: other settings, or more epochs done than asked for."""


def check_resumable(state: dict[str, Any], settings: dict[str, Any], epochs: int, path: str | Path) -> int:
    """Check that a run with `settings` over `epochs` epochs can continue a checkpoint; return the epochs done.

    `cnn_tutorial.training.fit` saves its settings (and the caller's
    `run_settings`) in the checkpoint's `extra["fit"]`; a resumed run must
    use the same ones, or it would not reach what an uninterrupted run
    reaches. `epochs` may grow, except under a learning-rate schedule, which
    is planned over the epochs.

    Args:
        state: From `read_checkpoint`.
        settings: The settings of the run that wants to continue; each must
            equal the saved one. A `"schedule"` other than `None` also fixes `epochs`.
        epochs: The total epochs that run asks for.
        path: Where `state` came from, for the message.

    Returns:
        The epochs the checkpoint has done.

    Raises:
        ResumeError: If a setting differs, the checkpoint has more epochs than
            `epochs`, or it was not written by `fit`.

    Examples:
        >>> state = {"epoch": 2, "extra": {"fit": {"lr": 0.01, "schedule": None, "epochs": 3}}}
        >>> check_resumable(state, {"lr": 0.01, "schedule": None}, epochs=5, path="c.pt")
        2
        >>> check_resumable(state, {"lr": 0.1, "schedule": None}, epochs=5, path="c.pt")
        Traceback (most recent call last):
            ...
        cnn_tutorial.checkpoints.ResumeError: c.pt was trained with lr=0.01 (not 0.1); resume with the same settings
    """
    saved = state["extra"].get("fit")
    if not isinstance(saved, dict):
        raise ResumeError(f"{path} was not written by fit; cannot resume from it")
    different = [
        f"{key}={saved.get(key)!r} (not {value!r})" for key, value in settings.items() if saved.get(key) != value
    ]
    if settings.get("schedule") is not None and saved.get("epochs") != epochs:
        different.append(f"epochs={saved.get('epochs')} (a {settings['schedule']} schedule is planned over them)")
    if different:
        raise ResumeError(f"{path} was trained with {', '.join(different)}; resume with the same settings")
    if state["epoch"] > epochs:
        raise ResumeError(f"{path} already has {state['epoch']} epochs, more than epochs={epochs}")
    return state["epoch"]


def _fsync_folder(folder: Path) -> None:
    # On POSIX the rename itself is durable only once the folder is flushed too.
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

"""Training and evaluating a classifier: `fit`, `evaluate` and the one training loop.

中文：训练与评估分类器：`fit`、`evaluate` 与唯一的训练循环。

There is one training loop, `train_one_epoch`: forward pass, cross-entropy,
`backward`, optimizer step, over batches whose order depends only on the
seed and the epoch number (`ShardedBatchSampler`). Because of that, a run
that stops after any epoch and resumes from a checkpoint reaches exactly the
weights of a run that never stopped, and the same loop runs unchanged in
one process or in several started by torchrun (each process takes its share
of every batch). Random numbers drawn while training do not break that:
augmentations and dropout layers draw for the whole global batch on every
process, and each process keeps the part that belongs to its share (see
`train_one_epoch`). `fit` runs the loop for some epochs with the options
the chapters compare (weight decay, a learning-rate schedule,
augmentation), evaluates after each epoch, and can keep a checkpoint
(`cnn_tutorial.checkpoints`); the command line (`cnn_tutorial.cli`) is `fit`
with arguments.

Seeding and device choice (`set_seed`, `pick_device`, `model_device`) live in
`cnn_tutorial.runtime` and the `History` record in `cnn_tutorial.history`;
they are importable from here too.
"""

import hashlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset
from tqdm import tqdm

from cnn_tutorial.augment import Share, takes_share
from cnn_tutorial.checkpoints import (
    check_resumable,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from cnn_tutorial.data import ImageSet
from cnn_tutorial.history import History
from cnn_tutorial.runtime import model_device, pick_device, set_seed  # noqa: F401 (set_seed re-exported)


SCHEDULES = (None, "cosine", "step")


class Evaluation(NamedTuple):
    """Mean loss and accuracy of a model on a data set."""

    loss: float
    accuracy: float


class ShardedBatchSampler(Sampler[list[int]]):
    """Shuffled batches that depend only on (seed, epoch), each split into one share per process.

    Every epoch draws one permutation of the data from a generator seeded
    with `seed + epoch`, identical on every process, and cuts it into global
    batches of `batch_size`. Process `rank` receives slice `rank` of each
    batch, `batch_size / world_size` indices (the last, shorter batch is split
    as evenly as possible). With `world_size=1` (one process, one shard) this
    is an ordinary shuffled batch sampler.

    Why not `torch.utils.data.DistributedSampler`? It deals the permutation
    out round-robin and, when the data does not divide evenly, repeats a few
    samples so that every process gets as many; those repeated samples make
    the result differ from a single process's. Like it, this sampler
    reshuffles through `set_epoch`, and because the permutation depends only
    on `seed` and the epoch, a resumed run needs nothing else to continue
    the same order.

    Args:
        num_samples: Size of the data set.
        batch_size: The global batch, all processes together.
        rank: This process's number.
        world_size: How many processes share each batch.
        seed: Seed of the shuffling.

    Raises:
        ValueError: If `batch_size` is not a multiple of `world_size`, or the
            last batch is too short to give every process at least one sample.

    Examples:
        >>> one = ShardedBatchSampler(10, batch_size=4, seed=0)
        >>> two = [ShardedBatchSampler(10, 4, rank=r, world_size=2, seed=0) for r in (0, 1)]
        >>> [len(batch) for batch in one], [[len(share) for share in s] for s in two]
        ([4, 4, 2], [[2, 2, 1], [2, 2, 1]])
        >>> [a + b for a, b in zip(*two)] == list(one)  # the two shares make up one process's batch
        True
        >>> epoch0 = list(one); one.set_epoch(1)
        >>> list(one) != epoch0  # a new order every epoch
        True
    """

    def __init__(self, num_samples: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(
                f"the batch size ({batch_size}) is the global batch and must be a positive "
                f"multiple of the number of processes ({world_size})"
            )
        last = num_samples % batch_size
        if 0 < last < world_size:
            raise ValueError(
                f"{num_samples} samples in batches of {batch_size} leave a last batch of {last}, "
                f"too few for {world_size} processes; choose another batch size"
            )
        self.num_samples, self.batch_size = num_samples, batch_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of epoch `epoch` (call it before every epoch)."""
        self.epoch = epoch

    def global_batch_sizes(self) -> list[int]:
        """Size of each global batch, in order: the whole batch, not this process's share."""
        full, last = divmod(self.num_samples, self.batch_size)
        return [self.batch_size] * full + ([last] if last else [])

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator)
        for batch in order.split(self.batch_size):
            yield batch.tensor_split(self.world_size)[self.rank].tolist()

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)


def batches(dataset: Dataset, batch_sampler) -> Iterator[tuple[torch.Tensor, ...]]:
    """The batches of `dataset` that `batch_sampler` (lists of indices) chooses.

    Data held in memory as tensors (`cnn_tutorial.data.ImageSet`,
    `TensorDataset`) is indexed a whole batch at once; any other data set
    goes through a `DataLoader`, which fetches the samples one by one and
    stacks them. Both give the same tensors; neither touches the global
    random generators.

    Examples:
        >>> data = TensorDataset(torch.arange(6.0), torch.arange(6))
        >>> [x.tolist() for x, _ in batches(data, [[4, 0], [1]])]
        [[4.0, 0.0], [1.0]]
    """
    if isinstance(dataset, TensorDataset):
        tensors = dataset.tensors
    elif type(dataset).__getitem__ is ImageSet.__getitem__:
        tensors = (dataset.images, dataset.labels)
    else:
        # A generator of its own: a DataLoader otherwise draws its base seed from torch's global one.
        yield from DataLoader(dataset, batch_sampler=batch_sampler, generator=torch.Generator())
        return
    for indices in batch_sampler:
        index = torch.as_tensor(indices, dtype=torch.long)
        yield tuple(tensor[index] for tensor in tensors)


def train_one_epoch(
    model: nn.Module,
    train_set: Dataset,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    batch_size: int,
    seed: int = 0,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool | None = None,
) -> tuple[float, float]:
    """Train `model` for one pass over `train_set`; return the epoch's mean loss and accuracy.

    The batch order depends only on `seed` and `epoch`. When a process group
    is running (torchrun), each of the N processes computes its share of
    every batch of `batch_size` and `model` should be wrapped in
    `DistributedDataParallel`, which averages the gradients.

    Random numbers are drawn so that N processes train exactly what one
    process trains (up to float rounding in the gradient sums):

    - An `augment` that accepts a keyword argument `share` (those of
      `cnn_tutorial.augment` do) is given the `Share` of the global batch
      this process holds; it draws for the whole global batch and keeps its
      slice. Any other `augment` is called with the batch alone; with more
      than one process, torch's generators are then forked and seeded from
      `(seed, epoch, step, rank)` around the call, so the processes augment
      differently (statistically like one process, but not the same numbers)
      and the global generators stay in step.
    - The model's `nn.Dropout`, `nn.Dropout1d`, `nn.Dropout2d` and
      `nn.Dropout3d` layers draw their masks for the whole global batch from
      the global generators (the same on every process, since every process
      seeds them alike) and keep this process's slice; in one process this
      is exactly what PyTorch's dropout draws on the CPU. Other random
      operations inside the model (`F.dropout` called in `forward`,
      `nn.AlphaDropout`, noise layers) draw per share: under several
      processes every process draws the same numbers for different images.

    Args:
        model: The module to train, on the device the batches should go to.
        train_set: Yields `(input, label)` pairs.
        optimizer: Updates the model's parameters.
        epoch: Number of this epoch, from 0; it fixes the batch order.
        batch_size: Inputs per optimizer step, all processes together.
        seed: Seed of the shuffling.
        augment: Called on each batch of inputs (on the model's device).
        progress: Show a progress bar; `None` shows it only in a terminal.
            Never shown by processes other than rank 0.

    Returns:
        `(loss, accuracy)` over all the epoch's training inputs, the same on every process.

    Examples:
        >>> from cnn_tutorial.data import load_digits
        >>> set_seed(0)
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        >>> loss, accuracy = train_one_epoch(model, load_digits("train"), optimizer, epoch=0, batch_size=64)
        >>> accuracy > 0.5
        True
    """
    distributed = dist.is_available() and dist.is_initialized()
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = model_device(model)
    sampler = ShardedBatchSampler(len(train_set), batch_size, rank, world_size, seed)
    sampler.set_epoch(epoch)
    show = False if rank else progress
    shares = tqdm(batches(train_set, sampler), total=len(sampler), desc=f"epoch {epoch + 1}", leave=False,
                  disable=None if show is None else not show)  # tqdm: disable=None means "only on a TTY"
    augment_takes_share = augment is not None and takes_share(augment)
    model.train()
    # Running sums stay tensors: an .item() per batch would wait for the GPU at every step.
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with _dropout_per_global_batch(model) as use_share:
        for step, ((inputs, labels), global_batch) in enumerate(
            zip(shares, sampler.global_batch_sizes(), strict=True)
        ):
            share = Share(global_batch, rank, world_size)
            use_share(share)
            inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            if augment_takes_share:
                inputs = augment(inputs, share=share)
            elif augment is not None and world_size > 1:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(_seed_of(seed, epoch, step, rank))
                    inputs = augment(inputs)
            elif augment is not None:
                inputs = augment(inputs)
            logits = model(inputs)
            if len(labels) * world_size == global_batch:
                loss = F.cross_entropy(logits, labels)  # an even share: its mean is already on the right scale
            else:
                # DDP averages gradients over the N processes; scaling each share's summed
                # loss by N / global_batch makes that average the gradient of the mean loss
                # over the whole global batch, also when the shares differ in size.
                loss = F.cross_entropy(logits, labels, reduction="sum") * (world_size / global_batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * (global_batch / world_size)  # this share's summed loss, in both cases
            correct += (logits.argmax(dim=1) == labels).sum()
    totals = torch.stack([total_loss, correct.double()])
    if distributed:
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    total_loss, total_correct = totals.tolist()
    return total_loss / len(train_set), total_correct / len(train_set)


# Dropout layers whose masks `train_one_epoch` draws for the global batch, and the number of
# dimensions of a batched input for those that drop whole channels (None: any shape).
_DROPOUT_INPUT_DIMS = {nn.Dropout: None, nn.Dropout1d: 3, nn.Dropout2d: 4, nn.Dropout3d: 5}


@contextmanager
def _dropout_per_global_batch(model: nn.Module) -> Iterator[Callable[[Share], None]]:
    """While active, the model's dropout layers draw masks for the global batch and keep this share's.

    Yields a function that sets the `Share` of the next forward pass. Each
    mask is drawn as PyTorch's CPU dropout draws it (`bernoulli_(1 - p)` on
    an empty tensor, divided by `1 - p`), but shaped for the whole global
    batch; in one process that is the same mask, so nothing changes there.
    An input whose first dimension is not this share's images (a layer
    applied to reshaped data) falls back to PyTorch's own dropout.
    """
    current: dict[str, Share] = {}

    def forward_of(module: nn.Module, dims: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
        native = type(module).forward

        def forward(input: torch.Tensor) -> torch.Tensor:
            share, p = current.get("share"), module.p
            if (not module.training or p in (0, 1) or share is None or input.dim() == 0
                    or (dims is not None and input.dim() != dims)
                    or len(share) != len(input)):
                return native(module, input)
            if dims is None:
                shape = (share.size, *input.shape[1:])
            else:  # one draw per channel: whole feature maps are dropped
                shape = (share.size, input.shape[1], *[1] * (dims - 2))
            noise = torch.empty(shape, dtype=input.dtype, device=input.device).bernoulli_(1 - p).div_(1 - p)
            noise = share.take(noise)
            return input.mul_(noise) if module.inplace else input * noise

        return forward

    patched = [m for m in model.modules() if type(m) in _DROPOUT_INPUT_DIMS and "forward" not in vars(m)]
    for module in patched:
        module.forward = forward_of(module, _DROPOUT_INPUT_DIMS[type(module)])
    try:
        yield lambda share: current.__setitem__("share", share)
    finally:
        for module in patched:
            del module.forward


def _seed_of(*numbers: int) -> int:
    # A 63-bit seed from several numbers, with no structure shared between neighbors.
    return int.from_bytes(hashlib.sha256(repr(numbers).encode()).digest()[:8], "big") >> 1


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
    checkpoint: str | Path | None = None,
    resume: bool = False,
    run_settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    on_epoch: Callable[[History], None] | None = None,
) -> History:
    """Train a classifier with Adam (or AdamW) and cross-entropy, one `train_one_epoch` at a time.

    The batches of epoch `e` are shuffled with `seed + e`, so two calls with
    the same model initialisation give the same history, and a resumed run
    the same as an uninterrupted one. Under torchrun (a process group is
    running) every process calls `fit` alike: the model is wrapped in
    `DistributedDataParallel`, each process trains on its share of every
    batch, and all return the same history, the one a single process
    computes (augmentation and dropout included; `train_one_epoch` says how).

    The regularisers the chapters compare are options here, so each can be
    switched on alone: `weight_decay` (decoupled, as in AdamW), a learning-rate
    `schedule`, and `augment`, a function applied to every training batch
    (see `cnn_tutorial.augment`; if it has a `set_epoch` method, it is called
    before each epoch). Dropout belongs to the model.

    On return the model is in evaluation mode, on `device`.

    Args:
        model: A module mapping a batch of inputs to class scores (logits).
        train_set: Yields `(input, label)` pairs; not empty.
        epochs: Passes over `train_set`, counting those of a resumed checkpoint.
        test_set: Evaluated after every epoch when given.
        batch_size: Inputs per optimization step (all processes together).
        lr: Adam's (initial) learning rate, a finite positive number.
        weight_decay: AdamW's decoupled weight decay; 0 means plain Adam.
        schedule: `None` (constant rate), `"cosine"` (cosine decay towards 0
            over the epochs: `lr · (1 + cos(π·epoch/epochs)) / 2`) or `"step"`
            (divide by 10 every `epochs // 2` epochs).
        augment: Called on each training batch of inputs (on `device`), e.g.
            random flips and shifts; never applied to `test_set`.
        seed: Seed of the shuffling.
        device: Where to train; `None` picks one with `pick_device`.
        progress: Show a progress bar; `None` shows it only in a terminal.
        checkpoint: A file to keep the run in (see `cnn_tutorial.checkpoints`),
            rewritten after every epoch (by rank 0).
        resume: Continue the run saved in `checkpoint` (which must exist)
            instead of starting afresh; without it an existing `checkpoint`
            is an error, never silently continued or overwritten.
        run_settings: Further settings the run depends on (a model's or data
            set's name, the augmentation), saved in the checkpoint; a resumed
            run must give the same ones, as it must give the same `lr`,
            `batch_size`, `weight_decay`, `schedule` and `seed`.
        extra: Saved in the checkpoint's `extra` and not checked on resume.
        on_epoch: Called with the history after every epoch (and checkpoint).

    Returns:
        The per-epoch `History` (with a resumed checkpoint's epochs first).

    Raises:
        ValueError: If `epochs` or `batch_size` is less than 1, `lr` is not
            a finite positive number or `weight_decay` not a finite number >= 0,
            `schedule` is unknown, `train_set` is empty, `checkpoint` exists
            without `resume`, or `resume` is given without `checkpoint`.
        ResumeError: If `checkpoint` was written with other settings, or
            already has more than `epochs` epochs.
        FileNotFoundError: If `resume` is true and `checkpoint` does not exist.

    Examples:
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
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite positive number, got {lr}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if len(train_set) == 0:
        raise ValueError("train_set is empty: there is nothing to train on")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint to resume from")
    if checkpoint is not None and not resume and Path(checkpoint).exists():
        raise ValueError(
            f"{checkpoint} already exists; pass resume=True to continue that run, or choose another checkpoint file"
        )
    settings = {**(run_settings or {}), "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "schedule": schedule, "seed": seed}
    state = None
    if resume:
        state = read_checkpoint(checkpoint)  # read once, checked before the model is touched
        check_resumable(state, settings, epochs, checkpoint)
    device = pick_device(device)
    model.to(device)
    if weight_decay:
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history, start = History(), 0
    if state is not None:
        restored = restore_checkpoint(state, model, optimizer, path=checkpoint)
        # Dropout and augmentation draw from the global generators: continue them where the run stopped.
        set_rng_state(restored.rng_state)
        history, start = restored.history, restored.epoch
    distributed = dist.is_available() and dist.is_initialized()
    trained = model
    if distributed and dist.get_world_size() > 1:
        device_ids = None
        if device.type == "cuda":  # one GPU per process: the one this process's model is on
            device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
        trained = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    show = progress if not distributed or dist.get_rank() == 0 else False
    for epoch in range(start, epochs):
        for group in optimizer.param_groups:  # the schedule depends on the epoch only: nothing to save
            group["lr"] = lr * _lr_factor(schedule, epoch, epochs)
        if hasattr(augment, "set_epoch"):
            augment.set_epoch(epoch)
        began = time.perf_counter()
        loss, accuracy = train_one_epoch(trained, train_set, optimizer, epoch=epoch, batch_size=batch_size,
                                         seed=seed, augment=augment, progress=show)
        history.seconds.append(time.perf_counter() - began)
        history.train_loss.append(loss)
        history.train_accuracy.append(accuracy)
        if test_set is not None:
            result = evaluate(model, test_set, device=device)
            history.test_loss.append(result.loss)
            history.test_accuracy.append(result.accuracy)
        if checkpoint is not None and (not distributed or dist.get_rank() == 0):
            save_checkpoint(checkpoint, model, optimizer, epoch + 1, history,
                            {**(extra or {}), "fit": settings | {"epochs": epochs}})
        if on_epoch is not None:
            on_epoch(history)
    model.eval()
    return history


def _lr_factor(schedule: str | None, epoch: int, epochs: int) -> float:
    if schedule == "cosine":
        return (1 + math.cos(math.pi * epoch / epochs)) / 2
    if schedule == "step":
        return 0.1 ** (epoch // max(1, epochs // 2))
    return 1.0


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Mean cross-entropy loss and accuracy of `model` on `dataset`.

    The model runs in evaluation mode (dropout off, batch norm frozen) and
    is left as it was found: its mode, and its device when `device` is another one.

    Args:
        model: A classifier returning logits.
        dataset: Yields `(input, label)` pairs.
        batch_size: Inputs per forward pass (no effect on the result).
        device: Where to run; `None` uses the device the model is on.

    Returns:
        An `Evaluation(loss, accuracy)`.

    Raises:
        ValueError: If `dataset` is empty.

    Examples:
        >>> from cnn_tutorial.data import load_digits
        >>> always_zero = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> nn.init.zeros_(always_zero[1].weight); nn.init.zeros_(always_zero[1].bias)
        Parameter containing: ...
        >>> result = evaluate(always_zero, load_digits("test"))
        >>> round(result.accuracy, 2), always_zero.training  # ties go to class 0, one digit in ten
        (0.1, True)
    """
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    found_on, was_training = model_device(model), model.training
    device = found_on if device is None else torch.device(device)
    model.to(device)
    model.eval()
    try:
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        in_order = [list(range(i, min(i + batch_size, len(dataset)))) for i in range(0, len(dataset), batch_size)]
        for inputs, labels in batches(dataset, in_order):
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)
            total_loss += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(dim=1) == labels).sum()
        return Evaluation(total_loss.item() / len(dataset), correct.item() / len(dataset))
    finally:
        model.train(was_training)
        model.to(found_on)

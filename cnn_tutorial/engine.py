"""One training epoch that runs the same on one process or many, and the run's metric logs.

`train_one_epoch` is `training.fit`'s inner loop — Adam (or any optimizer),
cross-entropy, shuffled batches — written so that a run can stop after any
epoch and resume exactly: the batch order of an epoch depends only on the
seed and the epoch number (see `distributed.ShardedBatchSampler`), not on
how many epochs ran before in the same process.

`write_metrics` saves the per-epoch numbers twice: `metrics.json` for
programs, `metrics.csv` for spreadsheets.
"""

import csv
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from cnn_tutorial.distributed import ShardedBatchSampler, World, sum_over_processes
from cnn_tutorial.training import History


def train_one_epoch(
    model: nn.Module,
    train_set: Dataset,
    optimizer: Optimizer,
    *,
    epoch: int,
    batch_size: int,
    seed: int = 0,
    world: World | None = None,
    progress: bool | None = None,
) -> tuple[float, float]:
    """Train `model` for one pass over `train_set`; return the epoch's mean loss and accuracy.

    Each optimizer step uses one global batch of `batch_size` images; in a
    world of N processes each process computes its `batch_size / N` share.

    Args:
        model: The module to train (wrapped by `distributed.wrap_model` when
            several processes train together), on `world.device`.
        train_set: Yields `(image, label)` pairs.
        optimizer: Updates the model's parameters.
        epoch: Number of this epoch, from 0; it fixes the batch order.
        batch_size: Images per optimizer step, all processes together.
        seed: Seed of the shuffling.
        world: This process's `World`; `None` means one process on the CPU.
        progress: Show a progress bar; `None` shows it only in a terminal.
            Never shown by processes other than rank 0.

    Returns:
        `(loss, accuracy)` over all the epoch's training images, on every process.

    Examples:
        >>> import torch
        >>> from cnn_tutorial.data import load_digits
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        >>> optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        >>> loss, accuracy = train_one_epoch(model, load_digits("train"), optimizer, epoch=0, batch_size=64)
        >>> accuracy > 0.5
        True
    """
    world = world or World()
    sampler = ShardedBatchSampler(len(train_set), batch_size, world.rank, world.world_size, seed)
    sampler.set_epoch(epoch)
    loader = DataLoader(train_set, batch_sampler=sampler)
    show = False if not world.is_main else progress
    batches = tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, disable=None if show is None else not show)
    model.train()
    # Running totals stay tensors: one `.item()` per epoch instead of two per batch.
    total_loss = torch.zeros((), dtype=torch.float64, device=world.device)
    correct = torch.zeros((), dtype=torch.int64, device=world.device)
    seen = 0
    for (inputs, labels), global_batch in zip(batches, sampler.global_batch_sizes(), strict=True):
        inputs, labels = inputs.to(world.device), labels.to(world.device)
        logits = model(inputs)
        if len(labels) * world.world_size == global_batch:
            loss = F.cross_entropy(logits, labels)  # an even share: its mean is already on the right scale
        else:
            # DDP averages gradients over the N processes; scaling each share's summed
            # loss by N / global_batch makes that average the gradient of the mean loss
            # over the whole global batch, also when the shares differ in size.
            loss = F.cross_entropy(logits, labels, reduction="sum") * (world.world_size / global_batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += loss.detach() * (global_batch / world.world_size)  # this share's summed loss
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += len(labels)
    total_loss, correct, seen = sum_over_processes([total_loss.item(), correct.item(), seen], world)
    return total_loss / seen, correct / seen


def metrics_rows(history: History, seconds: list[float], num_train: int) -> list[dict[str, float]]:
    """One dictionary per epoch: the history's numbers, the epoch's seconds and training throughput.

    Args:
        history: The run's `History` (with or without test numbers).
        seconds: Wall-clock seconds of each epoch's training (evaluation excluded).
        num_train: Training images per epoch, to compute samples per second.

    Returns:
        Rows with keys `epoch`, `train_loss`, `train_accuracy`, then
        `test_loss` and `test_accuracy` if recorded, `seconds` and `samples_per_s`.

    Examples:
        >>> [row] = metrics_rows(History([0.5], [0.8], [0.4], [0.9]), [2.0], num_train=1000)
        >>> row
        {'epoch': 1, 'train_loss': 0.5, 'train_accuracy': 0.8, 'test_loss': 0.4, 'test_accuracy': 0.9,
         'seconds': 2.0, 'samples_per_s': 500.0}
    """
    rows = []
    for i in range(history.epochs):
        row = {"epoch": i + 1, "train_loss": history.train_loss[i], "train_accuracy": history.train_accuracy[i]}
        if history.test_loss:
            row |= {"test_loss": history.test_loss[i], "test_accuracy": history.test_accuracy[i]}
        row |= {"seconds": seconds[i], "samples_per_s": num_train / seconds[i]}
        rows.append(row)
    return rows


def format_row(row: dict[str, float], epochs: int) -> str:
    """The one line printed after an epoch.

    Examples:
        >>> format_row({"epoch": 2, "train_loss": 0.51, "train_accuracy": 0.8, "test_loss": 0.4,
        ...             "test_accuracy": 0.9, "seconds": 1.5, "samples_per_s": 898.0}, epochs=5)
        'epoch 2/5  train_loss 0.5100  train_acc 80.00%  test_loss 0.4000  test_acc 90.00%  1.5 s  898 samples/s'
    """
    line = f"epoch {row['epoch']}/{epochs}  train_loss {row['train_loss']:.4f}  train_acc {row['train_accuracy']:.2%}"
    if "test_loss" in row:
        line += f"  test_loss {row['test_loss']:.4f}  test_acc {row['test_accuracy']:.2%}"
    return line + f"  {row['seconds']:.1f} s  {row['samples_per_s']:.0f} samples/s"


def write_metrics(rows: list[dict[str, float]], folder: str | Path) -> tuple[Path, Path]:
    """Write `rows` to `folder/metrics.json` (a list of dictionaries) and `folder/metrics.csv`.

    Both files are rewritten whole after every epoch, so they always match
    the checkpoint saved with them.

    Args:
        rows: From `metrics_rows`.
        folder: The run's output folder (created if missing).

    Returns:
        The paths of the JSON and CSV files.

    Examples:
        >>> import tempfile
        >>> json_path, csv_path = write_metrics([{"epoch": 1, "train_loss": 0.5}], tempfile.mkdtemp())
        >>> json.loads(json_path.read_text())
        [{'epoch': 1, 'train_loss': 0.5}]
        >>> csv_path.read_text().splitlines()
        ['epoch,train_loss', '1,0.5']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / "metrics.json", folder / "metrics.csv"
    json_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path

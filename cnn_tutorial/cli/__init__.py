"""The command line: train, evaluate and use a model without a notebook.

中文：命令行：不用 notebook 也能训练、评估和使用模型。

    python -m cnn_tutorial train --dataset digits --epochs 5 --out runs/digits
    python -m cnn_tutorial train --dataset digits --epochs 8 --out runs/digits --resume
    python -m cnn_tutorial train --dataset shapes --augment shift flip --weight-decay 0.1 --schedule cosine
    python -m cnn_tutorial evaluate --checkpoint runs/digits/checkpoint.pt
    python -m cnn_tutorial predict --checkpoint runs/digits/checkpoint.pt --index 0 1 2
    torchrun --standalone --nproc_per_node=2 -m cnn_tutorial train --dataset digits --out runs/ddp
    python -m cnn_tutorial train --dataset cifar10 --data-dir data --download --out runs/cifar10

`train` is `cnn_tutorial.training.fit` with arguments. It prints one line per
epoch and keeps three files in `--out`: `checkpoint.pt` (rewritten
atomically after every epoch), `metrics.json` and `metrics.csv`. `--resume`
continues from the checkpoint and reaches exactly the weights an
uninterrupted run reaches. `digits` and `shapes` need no files; `cifar10`
and `mnist` are read from the published archives in `--data-dir`, which
`--download` fetches and checks first (see `cnn_tutorial.archives`). Under
torchrun the processes share every batch (`--batch-size` is the global
batch) and only rank 0 prints and writes.

A mistake on the command line or a missing or damaged file ends the program
with one line on stderr and exit status 2.
"""

import argparse
import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from cnn_tutorial.archives import (
    ArchiveError,
    DownloadError,
    download_cifar10,
    download_mnist,
    load_cifar10,
    load_mnist,
)
from cnn_tutorial.augment import Share, compose, random_flip, random_shift
from cnn_tutorial.checkpoints import ResumeError, check_resumable, read_checkpoint
from cnn_tutorial.cli.distributed import distributed_device, launched_by_torchrun, process_group
from cnn_tutorial.data import ImageSet, load_digits, make_shapes
from cnn_tutorial.history import History
from cnn_tutorial.models import DigitCNN, GreyConvNet, SimpleCNN
from cnn_tutorial.runtime import pick_device, set_seed
from cnn_tutorial.training import ShardedBatchSampler, evaluate, fit

MODELS: dict[str, Callable[[], nn.Module]] = {
    "simple-cnn": SimpleCNN,
    "digit-cnn": DigitCNN,
    "grey-convnet": GreyConvNet,
}
# Each data set: (train split, test split), built on demand, and the model that fits it.
DATASETS: dict[str, Callable[[], tuple[ImageSet, ImageSet]]] = {
    "shapes": lambda: (make_shapes(6_000, seed=0), make_shapes(1_000, seed=1)),
    "digits": lambda: (load_digits("train"), load_digits("test")),
}
# Data sets read from the published archives in --data-dir: (download, load one split).
ARCHIVE_DATASETS: dict[str, tuple[Callable[[Path], Path], Callable[[Path, str], ImageSet]]] = {
    "cifar10": (download_cifar10, load_cifar10),
    "mnist": (download_mnist, load_mnist),
}
DEFAULT_MODEL = {"shapes": "simple-cnn", "digits": "digit-cnn", "cifar10": "simple-cnn", "mnist": "grey-convnet"}
INPUT_SHAPES = {"shapes": (3, 32, 32), "digits": (1, 8, 8), "cifar10": (3, 32, 32), "mnist": (1, 28, 28)}
# --augment choices: each makes an augmentation from a seed (see cnn_tutorial.augment).
AUGMENTS = {"shift": lambda seed: random_shift(2, seed=seed), "flip": lambda seed: random_flip(seed=seed)}

CHECKPOINT = "checkpoint.pt"
# Settings of a run that fit does not know itself; a resumed run must repeat them (fit checks its own).
RUN_SETTINGS = ("model", "dataset", "augment")


class UsageError(Exception):
    """A mistake on the command line; `main` prints it as one line and returns 2."""


class CommandError(ValueError):
    """An input the command cannot work with (a file, a device, a setting); printed as one line, status 2."""


@contextmanager
def _as_command_error() -> Iterator[None]:
    # Only around calls whose ValueError means bad input (a device name, a damaged
    # checkpoint): a ValueError anywhere else is a bug and keeps its traceback.
    try:
        yield
    except ValueError as error:
        raise CommandError(str(error)) from None


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits; we want one line and a return value.
    def error(self, message: str):
        raise UsageError(f"{self.prog}: error: {message} (see --help)")


def _positive(kind: type, zero: bool = False) -> Callable[[str], int | float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value):  # float("nan") < 0 is False: nan and inf would pass the test below
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {'>= 0' if zero else 'positive'}, got {text}")
        return value

    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**32:  # the range NumPy's generator accepts (set_seed seeds it)
        raise argparse.ArgumentTypeError(f"must be from 0 to 4294967295 (2**32 - 1), got {text}")
    return value


def build_parser(prog: str = "cnn-tutorial") -> argparse.ArgumentParser:
    """The argument parser of `train`, `evaluate` and `predict`.

    Args:
        prog: The program name shown in help and error messages.

    Returns:
        A parser whose `error` raises `UsageError` instead of exiting.

    Examples:
        >>> args = build_parser().parse_args(["train", "--dataset", "digits", "--epochs", "2"])
        >>> args.command, args.dataset, args.model, args.epochs, args.batch_size, args.schedule
        ('train', 'digits', None, 2, 64, None)
        >>> build_parser().parse_args(["train", "--epochs", "0"])
        Traceback (most recent call last):
            ...
        cnn_tutorial.cli.UsageError: cnn-tutorial train: error: argument --epochs: must be positive, got 0 (see --help)
    """
    parser = _Parser(prog=prog, description="Train, evaluate and use the tutorial's convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict}")

    train = commands.add_parser("train", help="train a model, writing a checkpoint and metrics to --out")
    add = train.add_argument
    add("--dataset", choices=sorted([*DATASETS, *ARCHIVE_DATASETS]), default="digits", help="data set (default: digits)")
    add("--model", choices=sorted(MODELS),
        help="network (default: " + ", ".join(f"{m} for {d}" for d, m in DEFAULT_MODEL.items()) + ")")
    add("--data-dir", help="folder with the files of cifar10 or mnist (see cnn_tutorial.archives)", metavar="PATH")
    add("--download", action="store_true", help="download cifar10 or mnist into --data-dir first (checked by SHA-256)")
    add("--epochs", type=_positive(int), default=5, help="total epochs, counting resumed ones (default: 5)")
    add("--batch-size", type=_positive(int), default=64, help="images per step, all processes together (default: 64)")
    add("--lr", type=_positive(float), default=1e-3, help="Adam's (initial) learning rate (default: 0.001)")
    add("--weight-decay", type=_positive(float, zero=True), default=0.0,
        help="AdamW's decoupled weight decay (default: 0, plain Adam)")
    add("--schedule", choices=("cosine", "step"), help="learning-rate schedule (default: constant)")
    add("--augment", nargs="+", choices=sorted(AUGMENTS), default=[], metavar="{" + ",".join(sorted(AUGMENTS)) + "}",
        help="augment the training batches: random shifts of up to 2 pixels, random mirroring")
    add("--seed", type=_seed, default=0, help="seed of initial weights, shuffling and augmentation (default: 0)")
    add("--out", default="runs", help="folder for checkpoint.pt, metrics.json, metrics.csv (default: runs)")
    add("--resume", action="store_true", help="continue from --out's checkpoint.pt")
    add("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")

    for name, text in (("evaluate", "loss and accuracy on the test split"), ("predict", "classify test images")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--checkpoint", required=True, help="a checkpoint.pt written by train")
        command.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
        command.add_argument(
            "--data-dir", metavar="PATH", help="cifar10 or mnist files (default: the folder train used)"
        )
        if name == "predict":
            command.add_argument(
                "--index", type=int, nargs="+", default=[0], metavar="N", help="test images to classify (default: 0)"
            )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "cnn-tutorial") -> int:
    """Run one command; return the exit status.

    Expected failures — bad arguments, a missing or damaged checkpoint, an
    unavailable device — print one line on stderr and return 2 instead of
    raising, so a user sees what to fix rather than a traceback.

    Args:
        argv: The arguments after the program name; `None` reads `sys.argv`.
        prog: The program name in messages.

    Returns:
        0 on success, 2 on a usage or file error, 130 if interrupted (Ctrl-C).

    Examples:
        >>> import contextlib, io
        >>> stderr = io.StringIO()
        >>> with contextlib.redirect_stderr(stderr):
        ...     main(["evaluate", "--checkpoint", "no/such/checkpoint.pt"])
        2
        >>> print(stderr.getvalue().strip())
        cnn-tutorial: error: no checkpoint at no/such/checkpoint.pt
    """
    try:
        args = build_parser(prog).parse_args(argv)
        {"train": train, "evaluate": evaluate_checkpoint, "predict": predict}[args.command](args)
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    except (CommandError, ResumeError, FileNotFoundError, DownloadError, ArchiveError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; the last checkpoint is intact (continue with --resume)", file=sys.stderr)
        return 130
    return 0


class EpochAugment:
    """The chosen augmentations, seeded anew by `(seed, epoch)` before every epoch.

    `fit` calls `set_epoch` before each epoch, so the random shifts and flips
    of an epoch do not depend on the epochs before it, and a resumed run
    augments exactly as an uninterrupted one. `fit` also passes the `Share`
    of each global batch that this process holds: every process draws the
    shifts and flips of the whole global batch and applies its slice, so
    torchrun augments exactly as one process.

    Examples:
        >>> augment = EpochAugment(["flip"], seed=0); augment.set_epoch(3)
        >>> batch = torch.rand(8, 1, 4, 4); first = augment(batch)
        >>> augment.set_epoch(3); torch.equal(augment(batch), first)
        True
    """

    def __init__(self, names: Sequence[str], seed: int) -> None:
        self.names, self.seed = list(names), seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Restart the generators at the state of epoch `epoch`."""
        seed = self.seed * 1_000_003 + epoch
        self.apply = compose(*(AUGMENTS[name](seed + i) for i, name in enumerate(self.names)))

    def __call__(self, batch: torch.Tensor, share: Share | None = None) -> torch.Tensor:
        return self.apply(batch, share=share)


def train(args: argparse.Namespace) -> None:
    """The `train` command: `fit` with a checkpoint, one printed line and the metrics files per epoch.

    Every process (one, or one per torchrun worker) seeds the same generators,
    builds the same model and trains on its share of each batch; rank 0
    prints and writes.

    Args:
        args: Parsed by `build_parser`.

    Raises:
        CommandError: If the model does not fit the data set, `--out` already
            holds a run and `--resume` is missing, or the checkpoint was
            trained with other settings (`fit`'s `ResumeError`, checked here
            before the data are loaded).
        FileNotFoundError: If `--resume` finds no checkpoint.

    Examples:
        >>> import tempfile
        >>> out = tempfile.mkdtemp()
        >>> main(["train", "--dataset", "digits", "--epochs", "1", "--out", out, "--device", "cpu"])
        training digit-cnn on digits: 1347 training images, 1 process, global batch 64, cpu
        epoch 1/1  train_loss ...  train_acc ...  test_loss ...  test_acc ...  samples/s
        0
        >>> sorted(path.name for path in Path(out).iterdir())
        ['checkpoint.pt', 'metrics.csv', 'metrics.json']
    """
    settings = {
        "model": args.model or DEFAULT_MODEL[args.dataset],
        "dataset": args.dataset,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "augment": list(args.augment),
        "seed": args.seed,
    }
    if args.dataset in ARCHIVE_DATASETS:
        settings["data_dir"] = _data_dir(args.dataset, args.data_dir).resolve().as_posix()
    _check_model_fits(settings["model"], settings["dataset"])
    out = Path(args.out)
    checkpoint_path = out / CHECKPOINT
    start = 0
    if args.resume:
        with _as_command_error():  # the check fit repeats, made before the data are loaded
            start = check_resumable(read_checkpoint(checkpoint_path), _checked(settings), args.epochs, checkpoint_path)
    elif checkpoint_path.exists():
        raise CommandError(
            f"{checkpoint_path} already exists; add --resume to continue that run, or choose another --out"
        )
    if args.download and launched_by_torchrun():
        raise CommandError(
            "--download under torchrun would download once per process; download first in one process "
            "(the same command without torchrun, or cnn_tutorial.archives), then start torchrun without --download"
        )
    with _as_command_error():  # a device this run cannot use fails before the data are loaded
        if launched_by_torchrun():
            distributed_device(args.device, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        else:
            pick_device(args.device)
    train_set, test_set = load_data(args.dataset, args.data_dir, download=args.download)

    with process_group(args.device) as world:
        with _as_command_error():  # a global batch that the processes cannot share evenly
            ShardedBatchSampler(len(train_set), args.batch_size, world.rank, world.world_size)
        set_seed(args.seed)  # every process builds the same initial weights
        model = MODELS[settings["model"]]()
        if world.is_main:
            processes = f"{world.world_size} process" + ("es" if world.world_size > 1 else "")
            print(
                f"training {settings['model']} on {args.dataset}: {len(train_set)} training images, "
                f"{processes}, global batch {args.batch_size}, {world.device}",
                flush=True,
            )
            if start == args.epochs:
                print(f"{checkpoint_path} already has {start} epochs; raise --epochs to train more", flush=True)

        def report(history: History) -> None:
            if world.is_main:
                rows = metrics_rows(history, len(train_set))
                print(format_row(rows[-1], args.epochs), flush=True)
                write_metrics(rows, out)

        fit(model, train_set, epochs=args.epochs, test_set=test_set, batch_size=args.batch_size, lr=args.lr,
            weight_decay=args.weight_decay, schedule=args.schedule,
            augment=EpochAugment(args.augment, args.seed) if args.augment else None, seed=args.seed,
            device=world.device, progress=None, checkpoint=checkpoint_path, resume=args.resume,
            run_settings={key: settings[key] for key in RUN_SETTINGS},
            extra={"settings": settings, "world_size": world.world_size}, on_epoch=report)


def evaluate_checkpoint(args: argparse.Namespace) -> None:
    """The `evaluate` command: print a checkpoint's loss and accuracy on its data set's test split.

    Args:
        args: Parsed by `build_parser`.

    Examples:
        >>> import contextlib, io, tempfile
        >>> out = tempfile.mkdtemp()
        >>> with contextlib.redirect_stdout(io.StringIO()):  # hide the training lines
        ...     status = main(["train", "--epochs", "1", "--out", out, "--device", "cpu"])
        >>> main(["evaluate", "--checkpoint", f"{out}/checkpoint.pt", "--device", "cpu"])
        digit-cnn on digits after 1 epochs: test_loss ...  test_acc ...% (450 images)
        0
    """
    model, settings, epochs, device = _load_trained(args)
    (test_set,) = load_data(settings["dataset"], args.data_dir or settings.get("data_dir"), splits=("test",))
    result = evaluate(model, test_set, device=device)
    print(
        f"{settings['model']} on {settings['dataset']} after {epochs} epochs: "
        f"test_loss {result.loss:.4f}  test_acc {result.accuracy:.2%} ({len(test_set)} images)"
    )


@torch.no_grad()
def predict(args: argparse.Namespace) -> None:
    """The `predict` command: print the predicted class of the chosen test images.

    Args:
        args: Parsed by `build_parser`.

    Raises:
        CommandError: If an `--index` is outside the test split.

    Examples:
        >>> import contextlib, io, tempfile
        >>> out = tempfile.mkdtemp()
        >>> with contextlib.redirect_stdout(io.StringIO()):  # hide the training lines
        ...     status = main(["train", "--epochs", "1", "--out", out, "--device", "cpu"])
        >>> main(["predict", "--checkpoint", f"{out}/checkpoint.pt", "--index", "0", "1", "--device", "cpu"])
        test image 0: predicted ... (...%), true ...
        test image 1: predicted ... (...%), true ...
        0
    """
    model, settings, _, device = _load_trained(args)
    (test_set,) = load_data(settings["dataset"], args.data_dir or settings.get("data_dir"), splits=("test",))
    for index in args.index:
        if not 0 <= index < len(test_set):
            raise CommandError(f"--index {index} is outside the test split (0 to {len(test_set) - 1})")
    images, labels = test_set[args.index]
    model.eval()
    probabilities = model(images.to(device)).softmax(dim=1).cpu()
    for index, p, label in zip(args.index, probabilities, labels.tolist(), strict=True):
        predicted = int(p.argmax())
        print(
            f"test image {index}: predicted {test_set.classes[predicted]} ({p[predicted]:.1%}), "
            f"true {test_set.classes[label]}"
        )


def load_data(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    splits: Sequence[str] = ("train", "test"),
) -> tuple[ImageSet, ...]:
    """The chosen splits of a data set, in order.

    `digits` and `shapes` are built in memory. `cifar10` and `mnist` are read
    from the published files in `data_dir`, downloaded and checked there
    first when `download` is true.

    Args:
        name: A data set name: `digits`, `shapes`, `cifar10` or `mnist`.
        data_dir: The folder of an archive data set's files.
        download: Fetch the files into `data_dir` first (already checked files are kept).
        splits: Which splits, `"train"` and/or `"test"`.

    Returns:
        One `ImageSet` per split.

    Raises:
        CommandError: If an archive data set has no `data_dir`, or a built-in
            one is given a `data_dir` or `download`.
        FileNotFoundError: If the files are not in `data_dir`.
        cnn_tutorial.archives.DownloadError: If a download fails.
        cnn_tutorial.archives.ArchiveError: If a file is damaged.

    Examples:
        >>> (test,) = load_data("digits", splits=("test",))
        >>> len(test)
        450
        >>> load_data("mnist")
        Traceback (most recent call last):
            ...
        cnn_tutorial.cli.CommandError: --dataset mnist needs --data-dir, the folder that holds its files (or will, with --download)
    """
    if name in ARCHIVE_DATASETS:
        folder = _data_dir(name, data_dir)
        fetch, read = ARCHIVE_DATASETS[name]
        if download:
            fetch(folder)
        return tuple(read(folder, split) for split in splits)
    if data_dir is not None or download:
        raise CommandError(f"--data-dir and --download are for {' and '.join(ARCHIVE_DATASETS)}; {name} needs no files")
    both = dict(zip(("train", "test"), DATASETS[name](), strict=True))
    return tuple(both[split] for split in splits)


def metrics_rows(history: History, num_train: int) -> list[dict[str, float]]:
    """One dictionary per epoch: the history's numbers, the epoch's seconds and training throughput.

    Args:
        history: The run's `History` (with or without test numbers).
        num_train: Training images per epoch, to compute samples per second.

    Returns:
        Rows with keys `epoch`, `train_loss`, `train_accuracy`, then
        `test_loss` and `test_accuracy` if recorded, `seconds` and `samples_per_s`.

    Examples:
        >>> [row] = metrics_rows(History([0.5], [0.8], [0.4], [0.9], seconds=[2.0]), num_train=1000)
        >>> row
        {'epoch': 1, 'train_loss': 0.5, 'train_accuracy': 0.8, 'test_loss': 0.4, 'test_accuracy': 0.9,
         'seconds': 2.0, 'samples_per_s': 500.0}
    """
    rows = []
    for i in range(history.epochs):
        row = {"epoch": i + 1, "train_loss": history.train_loss[i], "train_accuracy": history.train_accuracy[i]}
        if history.test_loss:
            row |= {"test_loss": history.test_loss[i], "test_accuracy": history.test_accuracy[i]}
        row |= {"seconds": history.seconds[i], "samples_per_s": num_train / history.seconds[i]}
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
    """Write `rows` to `folder/metrics.json` (a list of dictionaries) and `folder/metrics.csv`, atomically.

    Both files are rewritten whole after every epoch, so they always match
    the checkpoint saved with them; each goes to a temporary file first and
    is then renamed over the old one, so a reader never sees half a file.

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
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths = []
    for name, text in (("metrics.json", json.dumps(rows, indent=2) + "\n"), ("metrics.csv", table.getvalue())):
        path, temporary = folder / name, folder / f".{name}.tmp-{os.getpid()}"
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        paths.append(path)
    return paths[0], paths[1]


def _data_dir(name: str, data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise CommandError(
            f"--dataset {name} needs --data-dir, the folder that holds its files (or will, with --download)"
        )
    return Path(data_dir)


def _load_trained(args: argparse.Namespace) -> tuple[nn.Module, dict, int, torch.device]:
    with _as_command_error():
        state = read_checkpoint(args.checkpoint)  # read once: the settings say which model the weights fit
        device = pick_device(args.device)
    settings = state["extra"].get("settings")
    known = isinstance(settings, dict) and settings.get("model") in MODELS and settings.get("dataset") in INPUT_SHAPES
    if not known:
        raise CommandError(
            f"{args.checkpoint} was not written by the train command (it names no known model and data set)"
        )
    model = MODELS[settings["model"]]()
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as error:
        message = " ".join(str(error).split())[:300]
        raise CommandError(f"{args.checkpoint} does not fit {settings['model']}: {message}") from None
    return model.to(device), settings, state["epoch"], device


def _check_model_fits(model: str, dataset: str) -> None:
    expected, given = tuple(MODELS[model].input_shape), INPUT_SHAPES[dataset]
    if expected != given:
        raise CommandError(
            f"--model {model} expects {'×'.join(map(str, expected))} images but {dataset} images are "
            f"{'×'.join(map(str, given))}; use --model {DEFAULT_MODEL[dataset]}"
        )


def _checked(settings: dict) -> dict:
    # What fit checks on resume: the run settings it is given, then its own (in fit's order).
    own = ("batch_size", "lr", "weight_decay", "schedule", "seed")
    return {key: settings[key] for key in (*RUN_SETTINGS, *own)}

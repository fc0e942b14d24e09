"""The command line: train, evaluate and use a model without a notebook.

    python -m cnn_tutorial train --dataset digits --epochs 5 --out runs/digits
    python -m cnn_tutorial train --dataset digits --epochs 8 --out runs/digits --resume
    python -m cnn_tutorial evaluate --checkpoint runs/digits/checkpoint.pt
    python -m cnn_tutorial predict --checkpoint runs/digits/checkpoint.pt --index 0 1 2
    torchrun --nproc_per_node=2 -m cnn_tutorial train --dataset digits --out runs/ddp
    python -m cnn_tutorial train --dataset cifar10 --data-dir data --download --out runs/cifar10
    python -m cnn_tutorial train --dataset mnist --data-dir data --download --out runs/mnist

`train` prints one line per epoch and keeps three files in `--out`:
`checkpoint.pt` (rewritten atomically after every epoch), `metrics.json` and
`metrics.csv`. `--resume` continues from the checkpoint and reaches exactly
the weights an uninterrupted run reaches. `digits` and `shapes` need no
files; `cifar10` and `mnist` are read from the published archives in
`--data-dir`, which `--download` fetches and checks first (see
`cnn_tutorial.archives`). Under torchrun the processes share
every batch (`--batch-size` is the global batch) and only rank 0 prints and
writes.

A mistake on the command line or a missing or damaged file ends the program
with one line on stderr and exit status 2.
"""

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from cnn_tutorial.archives import DownloadError, download_cifar10, download_mnist, load_cifar10, load_mnist
from cnn_tutorial.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint, set_rng_state
from cnn_tutorial.data import ImageSet, load_digits, make_shapes
from cnn_tutorial.distributed import launched_by_torchrun, process_group, wrap_model
from cnn_tutorial.engine import format_row, metrics_rows, train_one_epoch, write_metrics
from cnn_tutorial.models import ConvNet, DigitCNN, SimpleCNN, check_input_shape
from cnn_tutorial.training import History, evaluate, pick_device, set_seed


class GreyConvNet(ConvNet):
    """`ConvNet` with one input channel, for MNIST's 1×28×28 digits (28 → 14 → 7, then global pooling)."""

    input_shape = (1, 28, 28)

    def __init__(self) -> None:
        super().__init__(in_channels=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, self.input_shape, type(self).__name__)
        return super().forward(x)


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

CHECKPOINT = "checkpoint.pt"
# A resumed run must use the settings the checkpoint was trained with (--epochs may grow).
RUN_SETTINGS = ("model", "dataset", "batch_size", "lr", "seed")


class UsageError(Exception):
    """A mistake on the command line; `main` prints it as one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits; we want one line and a return value.
    def error(self, message: str):
        raise UsageError(f"{self.prog}: error: {message} (see --help)")


def _positive(kind: type) -> Callable[[str], int | float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def build_parser(prog: str = "cnn-tutorial") -> argparse.ArgumentParser:
    """The argument parser of `train`, `evaluate` and `predict`.

    Args:
        prog: The program name shown in help and error messages.

    Returns:
        A parser whose `error` raises `UsageError` instead of exiting.

    Examples:
        >>> args = build_parser().parse_args(["train", "--dataset", "digits", "--epochs", "2"])
        >>> args.command, args.dataset, args.model, args.epochs, args.batch_size
        ('train', 'digits', None, 2, 64)
        >>> build_parser().parse_args(["train", "--epochs", "0"])
        Traceback (most recent call last):
            ...
        cnn_tutorial.cli.UsageError: cnn-tutorial train: error: argument --epochs: must be positive, got 0 (see --help)
    """
    parser = _Parser(prog=prog, description="Train, evaluate and use the tutorial's convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict}")

    train = commands.add_parser("train", help="train a model, writing a checkpoint and metrics to --out")
    train.add_argument(
        "--dataset", choices=sorted([*DATASETS, *ARCHIVE_DATASETS]), default="digits", help="data set (default: digits)"
    )
    train.add_argument(
        "--model",
        choices=sorted(MODELS),
        help="network (default: " + ", ".join(f"{m} for {d}" for d, m in DEFAULT_MODEL.items()) + ")",
    )
    train.add_argument(
        "--data-dir", help="folder with the files of cifar10 or mnist (see cnn_tutorial.archives)", metavar="PATH"
    )
    train.add_argument(
        "--download", action="store_true", help="download cifar10 or mnist into --data-dir first (checked by SHA-256)"
    )
    train.add_argument(
        "--epochs", type=_positive(int), default=5, help="total epochs, counting resumed ones (default: 5)"
    )
    train.add_argument(
        "--batch-size", type=_positive(int), default=64, help="images per step, all processes together (default: 64)"
    )
    train.add_argument("--lr", type=_positive(float), default=1e-3, help="Adam's learning rate (default: 0.001)")
    train.add_argument("--seed", type=int, default=0, help="seed of initial weights and shuffling (default: 0)")
    train.add_argument(
        "--out", default="runs", help="folder for checkpoint.pt, metrics.json, metrics.csv (default: runs)"
    )
    train.add_argument("--resume", action="store_true", help="continue from --out's checkpoint.pt")
    train.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")

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
    except (FileNotFoundError, ValueError, DownloadError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; the last checkpoint is intact (continue with --resume)", file=sys.stderr)
        return 130
    return 0


def train(args: argparse.Namespace) -> None:
    """The `train` command: train, evaluate after each epoch, save metrics and a checkpoint.

    Every process (one, or one per torchrun worker) seeds the same generators,
    builds the same model and trains on its share of each batch; rank 0
    evaluates, prints and writes.

    Args:
        args: Parsed by `build_parser`.

    Raises:
        ValueError: If the model does not fit the data set, `--out` already
            holds a run and `--resume` is missing, or the checkpoint was
            trained with other settings.
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
        "seed": args.seed,
    }
    if args.dataset in ARCHIVE_DATASETS:
        settings["data_dir"] = _data_dir(args.dataset, args.data_dir).resolve().as_posix()
    _check_model_fits(settings["model"], settings["dataset"])
    out = Path(args.out)
    checkpoint_path = out / CHECKPOINT
    if args.resume:
        _check_resumable(read_checkpoint(checkpoint_path), settings, args.epochs, checkpoint_path)
    elif checkpoint_path.exists():
        raise ValueError(
            f"{checkpoint_path} already exists; add --resume to continue that run, or choose another --out"
        )
    if args.download and launched_by_torchrun():
        raise ValueError(
            "--download under torchrun would download once per process; download first in one process "
            "(the same command without torchrun, or cnn_tutorial.archives), then start torchrun without --download"
        )
    train_set, test_set = load_data(args.dataset, args.data_dir, download=args.download)

    with process_group(args.device) as world:
        set_seed(args.seed)  # every process builds the same initial weights
        model = MODELS[settings["model"]]().to(world.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        history, seconds, start = History(), [], 0
        if args.resume:
            checkpoint = load_checkpoint(checkpoint_path, model, optimizer)
            history, seconds, start = checkpoint.history, checkpoint.extra["seconds"], checkpoint.epoch
            # Iterating a DataLoader draws from torch's global generator, and a
            # model with dropout would too: continue them where the run stopped.
            set_rng_state(checkpoint.rng_state)
        if world.is_main:
            processes = f"{world.world_size} process" + ("es" if world.world_size > 1 else "")
            print(
                f"training {settings['model']} on {args.dataset}: {len(train_set)} training images, "
                f"{processes}, global batch {args.batch_size}, {world.device}",
                flush=True,
            )
            if start == args.epochs:
                print(f"{checkpoint_path} already has {start} epochs; raise --epochs to train more", flush=True)
        trained_model = wrap_model(model, world)
        for epoch in range(start, args.epochs):
            began = time.perf_counter()
            loss, accuracy = train_one_epoch(
                trained_model,
                train_set,
                optimizer,
                epoch=epoch,
                batch_size=args.batch_size,
                seed=args.seed,
                world=world,
            )
            seconds.append(time.perf_counter() - began)
            if not world.is_main:
                continue
            result = evaluate(model, test_set, device=world.device)
            history.train_loss.append(loss)
            history.train_accuracy.append(accuracy)
            history.test_loss.append(result.loss)
            history.test_accuracy.append(result.accuracy)
            rows = metrics_rows(history, seconds, len(train_set))
            print(format_row(rows[-1], args.epochs), flush=True)
            extra = {"settings": settings, "seconds": seconds, "world_size": world.world_size}
            save_checkpoint(checkpoint_path, model, optimizer, epoch + 1, history, extra)
            write_metrics(rows, out)


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
        ValueError: If an `--index` is outside the test split.

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
            raise ValueError(f"--index {index} is outside the test split (0 to {len(test_set) - 1})")
    images = torch.stack([test_set[index][0] for index in args.index]).to(device)
    model.eval()
    probabilities = model(images).softmax(dim=1).cpu()
    for index, p in zip(args.index, probabilities, strict=True):
        predicted, label = int(p.argmax()), int(test_set[index][1])
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
        ValueError: If an archive data set has no `data_dir`, or a built-in
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
        ValueError: --dataset mnist needs --data-dir, the folder that holds its files (or will, with --download)
    """
    if name in ARCHIVE_DATASETS:
        folder = _data_dir(name, data_dir)
        fetch, read = ARCHIVE_DATASETS[name]
        if download:
            fetch(folder)
        return tuple(read(folder, split) for split in splits)
    if data_dir is not None or download:
        raise ValueError(f"--data-dir and --download are for {' and '.join(ARCHIVE_DATASETS)}; {name} needs no files")
    both = dict(zip(("train", "test"), DATASETS[name](), strict=True))
    return tuple(both[split] for split in splits)


def _data_dir(name: str, data_dir: str | Path | None) -> Path:
    if data_dir is None:
        raise ValueError(
            f"--dataset {name} needs --data-dir, the folder that holds its files (or will, with --download)"
        )
    return Path(data_dir)


def _load_trained(args: argparse.Namespace) -> tuple[nn.Module, dict, int, torch.device]:
    # Reading the settings first tells which model to build for the weights.
    settings = read_checkpoint(args.checkpoint)["extra"].get("settings")
    known = isinstance(settings, dict) and settings.get("model") in MODELS and settings.get("dataset") in INPUT_SHAPES
    if not known:
        raise ValueError(
            f"{args.checkpoint} was not written by the train command (it names no known model and data set)"
        )
    device = pick_device(args.device)
    model = MODELS[settings["model"]]().to(device)
    checkpoint = load_checkpoint(args.checkpoint, model)
    return model, settings, checkpoint.epoch, device


def _check_model_fits(model: str, dataset: str) -> None:
    expected, given = tuple(MODELS[model].input_shape), INPUT_SHAPES[dataset]
    if expected != given:
        raise ValueError(
            f"--model {model} expects {'×'.join(map(str, expected))} images but {dataset} images are "
            f"{'×'.join(map(str, given))}; use --model {DEFAULT_MODEL[dataset]}"
        )


def _check_resumable(state: dict, settings: dict, epochs: int, path: Path) -> None:
    saved = state["extra"].get("settings")
    if not isinstance(saved, dict):
        raise ValueError(f"{path} was not written by the train command; cannot resume from it")
    different = [
        f"--{key.replace('_', '-')} {saved.get(key)} (not {settings[key]})"
        for key in RUN_SETTINGS
        if saved.get(key) != settings[key]
    ]
    if different:
        raise ValueError(f"{path} was trained with {', '.join(different)}; resume with the same settings")
    if state["epoch"] > epochs:
        raise ValueError(f"{path} already has {state['epoch']} epochs, more than --epochs {epochs}")

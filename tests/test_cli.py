"""The command line: train writes its logs and checkpoint, resume is exact, evaluate and
predict work, and every expected mistake ends with one line on stderr and status 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnn_tutorial import cli, training
from cnn_tutorial.checkpoints import read_checkpoint
from cnn_tutorial.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset", "digits", "--batch-size", "64", "--lr", "0.01", "--seed", "3", "--device", "cpu"]


def train(out: Path, epochs: int, *extra: str) -> int:
    return main(["train", *TINY, "--epochs", str(epochs), "--out", str(out), *extra])


def weights(out: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(out / "checkpoint.pt")["model"]


def optimizer_tensors(out: Path) -> list[torch.Tensor]:
    state = read_checkpoint(out / "checkpoint.pt")["optimizer"]["state"]
    return [tensor for key in sorted(state) for tensor in state[key].values()]


def assert_equal_runs(a: Path, b: Path) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), f"{name} differs"
    assert all(torch.equal(x, y) for x, y in zip(optimizer_tensors(a), optimizer_tensors(b), strict=True))


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")} for row in rows]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A 3-epoch run that was never interrupted, and what it printed."""
    out = tmp_path_factory.mktemp("straight")
    capture = tmp_path_factory.mktemp("capture") / "stdout.txt"
    with open(capture, "w") as file, _redirect_stdout(file):
        assert train(out, 3) == 0
    return out, capture.read_text()


class _redirect_stdout:
    # capsys is function-scoped; a module fixture redirects by hand.
    def __init__(self, file):
        self.file = file

    def __enter__(self):
        self.saved, sys.stdout = sys.stdout, self.file

    def __exit__(self, *exc):
        sys.stdout = self.saved


# ---------------------------------------------------------------- train


def test_train_prints_one_line_per_epoch(straight):
    _, stdout = straight
    lines = stdout.strip().splitlines()
    assert lines[0] == "training digit-cnn on digits: 1347 training images, 1 process, global batch 64, cpu"
    assert [line.split("  ")[0] for line in lines[1:]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train_loss" in line and "test_acc" in line and "samples/s" in line for line in lines[1:])


def test_train_writes_metrics_json_and_csv(straight):
    out, _ = straight
    rows = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert set(rows[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "seconds",
        "samples_per_s",
    }
    assert rows[-1]["test_accuracy"] > 0.8  # the run really learned
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,samples_per_s"
    assert [float(v) for v in csv_lines[3].split(",")[:5]] == [3, *(rows[2][k] for k in list(rows[2])[1:5])]


def test_train_writes_a_checkpoint_with_its_settings(straight):
    out, _ = straight
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.csv", "metrics.json"]
    state = read_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 3 and len(state["history"]["train_loss"]) == 3
    assert state["extra"]["settings"] == {
        "model": "digit-cnn",
        "dataset": "digits",
        "batch_size": 64,
        "lr": 0.01,
        "weight_decay": 0.0,
        "schedule": None,
        "augment": [],
        "seed": 3,
    }


def test_the_same_seed_gives_the_same_run(straight, tmp_path):
    assert train(tmp_path, 3) == 0
    assert_equal_runs(straight[0], tmp_path)


# ---------------------------------------------------------------- resume


def test_resume_reaches_exactly_the_weights_of_an_uninterrupted_run(straight, tmp_path, capsys):
    assert train(tmp_path, 2) == 0
    assert read_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert train(tmp_path, 3, "--resume") == 0
    assert "epoch 3/3" in capsys.readouterr().out
    assert_equal_runs(straight[0], tmp_path)
    resumed = json.loads((tmp_path / "metrics.json").read_text())
    expected = json.loads((straight[0] / "metrics.json").read_text())
    assert without_timing(resumed) == without_timing(expected)


def test_resume_after_ctrl_c_in_the_middle_of_an_epoch(straight, tmp_path, monkeypatch, capsys):
    real_epoch = training.train_one_epoch

    def interrupted_in_epoch_3(*args, epoch, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(training, "train_one_epoch", interrupted_in_epoch_3)
    assert train(tmp_path, 3) == 130
    assert "continue with --resume" in capsys.readouterr().err
    assert read_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    monkeypatch.undo()
    assert train(tmp_path, 3, "--resume") == 0
    assert_equal_runs(straight[0], tmp_path)


REGULARIZED = ["--augment", "shift", "flip", "--weight-decay", "0.1", "--schedule", "cosine"]


def test_resume_with_augmentation_weight_decay_and_schedule_is_exact(tmp_path):
    straight = tmp_path / "straight"
    assert train(straight, 3, *REGULARIZED) == 0
    assert read_checkpoint(straight / "checkpoint.pt")["extra"]["settings"]["augment"] == ["shift", "flip"]
    # Interrupt a fresh run after epoch 1 (Ctrl-C), then resume it.
    interrupted = tmp_path / "interrupted"

    def stop_in_epoch_2(*args, epoch, **kwargs):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(*args, epoch=epoch, **kwargs)

    real = training.train_one_epoch
    training.train_one_epoch = stop_in_epoch_2
    try:
        assert train(interrupted, 3, *REGULARIZED) == 130
    finally:
        training.train_one_epoch = real
    assert read_checkpoint(interrupted / "checkpoint.pt")["epoch"] == 1
    assert train(interrupted, 3, *REGULARIZED, "--resume") == 0
    assert_equal_runs(straight, interrupted)
    plain = tmp_path / "plain"
    assert train(plain, 3) == 0
    assert not torch.equal(weights(plain)["fc2.weight"], weights(straight)["fc2.weight"])  # the options did act


def test_a_schedule_is_resumed_only_over_the_same_epochs(tmp_path, capsys):
    assert train(tmp_path, 1, "--schedule", "cosine") == 0
    assert train(tmp_path, 2, "--schedule", "cosine", "--resume") == 2
    assert_one_line_error(capsys.readouterr(), "trained with epochs=1 (a cosine schedule is planned over them)")


def test_metrics_files_are_replaced_whole(tmp_path, monkeypatch):
    import os

    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append(Path(b).name), real_replace(a, b)))
    assert train(tmp_path, 1) == 0
    assert {"metrics.json", "metrics.csv", "checkpoint.pt"} <= set(renamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.csv", "metrics.json"]


def test_a_value_error_that_is_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    def broken_fit(*args, **kwargs):
        raise ValueError("a bug inside training")

    monkeypatch.setattr(cli, "fit", broken_fit)
    with pytest.raises(ValueError, match="a bug inside training"):
        main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path)])


def test_resume_of_a_finished_run_trains_nothing(straight, capsys):
    out, _ = straight
    before = (out / "checkpoint.pt").read_bytes()
    assert train(out, 3, "--resume") == 0
    assert "already has 3 epochs" in capsys.readouterr().out
    assert (out / "checkpoint.pt").read_bytes() == before


# ---------------------------------------------------------------- evaluate, predict


def test_evaluate_prints_the_last_epochs_test_numbers(straight, capsys):
    out, _ = straight
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--device", "cpu"]) == 0
    last = json.loads((out / "metrics.json").read_text())[-1]
    expected = f"test_loss {last['test_loss']:.4f}  test_acc {last['test_accuracy']:.2%} (450 images)"
    assert capsys.readouterr().out.strip() == f"digit-cnn on digits after 3 epochs: {expected}"


def test_predict_prints_one_line_per_image(straight, capsys):
    out, _ = straight
    assert main(["predict", "--checkpoint", str(out / "checkpoint.pt"), "--index", "0", "7", "449"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["test image 0", "test image 7", "test image 449"]
    assert all(" predicted " in line and "%), true " in line for line in lines)


def test_predict_agrees_with_the_models_own_answer(straight, capsys):
    from cnn_tutorial.data import load_digits
    from cnn_tutorial.models import DigitCNN

    out, _ = straight
    model = DigitCNN()
    model.load_state_dict(weights(out))
    test = load_digits("test")
    indices = list(range(0, 450, 45))
    expected = model(test.images[indices]).argmax(dim=1).tolist()
    assert (
        main(["predict", "--checkpoint", str(out / "checkpoint.pt"), "--index", *map(str, indices), "--device", "cpu"])
        == 0
    )
    printed = [int(line.split("predicted ")[1].split(" ")[0]) for line in capsys.readouterr().out.splitlines()]
    assert printed == expected


def test_evaluate_as_a_subprocess(straight):
    out, _ = straight
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnn_tutorial",
            "evaluate",
            "--checkpoint",
            str(out / "checkpoint.pt"),
            "--device",
            "cpu",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digit-cnn on digits after 3 epochs: test_loss ")
    assert result.stderr == ""


def test_a_corrupt_checkpoint_in_a_subprocess_gives_one_line_and_status_2(straight, tmp_path):
    corrupt = tmp_path / "checkpoint.pt"
    corrupt.write_bytes((straight[0] / "checkpoint.pt").read_bytes()[:500])
    result = subprocess.run(
        [sys.executable, "-m", "cnn_tutorial", "predict", "--checkpoint", str(corrupt)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("python -m cnn_tutorial: error: ") and "truncated or corrupt" in result.stderr


# ---------------------------------------------------------------- mistakes: one line, status 2


BAD_ARGUMENTS = {
    "no command": ([], "required"),
    "unknown command": (["fit"], "invalid choice: 'fit'"),
    "zero epochs": (["train", "--epochs", "0"], "argument --epochs: must be positive, got 0"),
    "batch size not a number": (
        ["train", "--batch-size", "many"],
        "argument --batch-size: expected an integer, got 'many'",
    ),
    "negative learning rate": (["train", "--lr", "-1"], "argument --lr: must be positive"),
    "learning rate nan": (["train", "--lr", "nan"], "argument --lr: expected a finite number, got nan"),
    "infinite weight decay": (["train", "--weight-decay", "inf"], "argument --weight-decay: expected a finite number"),
    "negative seed": (["train", "--seed", "-1"], "argument --seed: must be from 0 to 4294967295 (2**32 - 1), got -1"),
    "seed too large": (["train", "--seed", "4294967296"], "argument --seed: must be from 0 to 4294967295"),
    "seed not a number": (["train", "--seed", "1.5"], "argument --seed: expected an integer, got '1.5'"),
    "unknown data set": (["train", "--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
    "unknown option": (["train", "--epoch", "2", "--colour"], "unrecognized arguments: --colour"),
    "model does not fit data": (
        ["train", "--model", "simple-cnn", "--dataset", "digits"],
        "expects 3×32×32 images but digits images are 1×8×8",
    ),
    "predict without checkpoint": (["predict"], "the following arguments are required: --checkpoint"),
    "index not a number": (
        ["predict", "--checkpoint", "c.pt", "--index", "first"],
        "argument --index: invalid int value",
    ),
}


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    assert_one_line_error(capsys.readouterr(), message)


def assert_one_line_error(captured, message: str) -> None:
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith("cnn-tutorial") and ": error: " in captured.err
    assert message in captured.err, captured.err


def test_missing_checkpoint(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert_one_line_error(capsys.readouterr(), f"no checkpoint at {tmp_path / 'none.pt'}")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_truncated_checkpoint(straight, tmp_path, command, capsys):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes((straight[0] / "checkpoint.pt").read_bytes()[:-100])
    assert main([command, "--checkpoint", str(path)]) == 2
    assert_one_line_error(capsys.readouterr(), "is not a readable checkpoint (truncated or corrupt?)")


def test_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a checkpoint\n")
    assert main(["evaluate", "--checkpoint", str(path)]) == 2
    assert_one_line_error(capsys.readouterr(), "expected a checkpoint written by save_checkpoint")


def test_index_outside_the_test_split(straight, capsys):
    assert main(["predict", "--checkpoint", str(straight[0] / "checkpoint.pt"), "--index", "450"]) == 2
    assert_one_line_error(capsys.readouterr(), "--index 450 is outside the test split (0 to 449)")


def test_unknown_device(tmp_path, capsys):
    assert main(["train", "--epochs", "1", "--out", str(tmp_path), "--device", "gpu"]) == 2
    assert_one_line_error(capsys.readouterr(), "'gpu' is not a device name")


def test_resume_without_a_checkpoint(tmp_path, capsys):
    assert train(tmp_path, 2, "--resume") == 2
    assert_one_line_error(capsys.readouterr(), "no checkpoint at")


def test_training_into_a_used_folder_needs_resume(straight, capsys):
    out = straight[0]
    assert train(out, 4) == 2
    assert_one_line_error(capsys.readouterr(), "already exists; add --resume")


def test_resume_with_other_settings(straight, capsys):
    out = straight[0]
    assert main(["train", *TINY, "--lr", "0.1", "--epochs", "4", "--out", str(out), "--resume"]) == 2
    assert_one_line_error(capsys.readouterr(), "was trained with lr=0.01 (not 0.1); resume with the same settings")


def test_resume_with_fewer_epochs_than_done(straight, capsys):
    assert train(straight[0], 2, "--resume") == 2
    assert_one_line_error(capsys.readouterr(), "already has 3 epochs, more than epochs=2")

"""The command line on CIFAR-10 and MNIST: tiny archives in the real formats, read or downloaded from 127.0.0.1."""

import shutil

import pytest
from archive_builders import (
    FileServer,
    cifar_batches,
    closed_port_url,
    digests,
    mnist_arrays,
    write_cifar_archive,
    write_cifar_folder,
    write_mnist,
)

from cnn_tutorial import archives
from cnn_tutorial.archives import RemoteFile
from cnn_tutorial.checkpoints import read_checkpoint
from cnn_tutorial.cli import main

FAST = ["--epochs", "1", "--batch-size", "8", "--device", "cpu"]


def assert_one_line_error(captured, message: str) -> None:
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith("cnn-tutorial: error: ") and message in captured.err, captured.err


@pytest.fixture
def cifar_dir(tmp_path):
    """A folder with CIFAR-10 unpacked, as --download leaves it (the archive beside its folder)."""
    write_cifar_archive(tmp_path / "cifar", cifar_batches(per_batch=4, test=6))
    write_cifar_folder(tmp_path / "cifar", cifar_batches(per_batch=4, test=6))
    return tmp_path / "cifar"


def test_train_evaluate_predict_on_cifar10(cifar_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(cifar_dir), "--out", str(out), *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "training simple-cnn on cifar10: 20 training images, 1 process, global batch 8, cpu"
    assert lines[1].startswith("epoch 1/1")
    settings = read_checkpoint(out / "checkpoint.pt")["extra"]["settings"]
    assert settings["dataset"] == "cifar10" and settings["data_dir"] == cifar_dir.resolve().as_posix()

    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("(6 images)")
    assert main(["predict", "--checkpoint", str(out / "checkpoint.pt"), "--index", "5", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("test image 5: predicted ") and "true " in printed


def test_evaluate_with_the_data_moved_elsewhere(cifar_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cifar10", "--data-dir", str(cifar_dir), "--out", str(out), *FAST]) == 0
    moved = shutil.move(cifar_dir, tmp_path / "moved")
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt")]) == 2
    assert_one_line_error(capsys.readouterr(), "no CIFAR-10 in ")
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--data-dir", str(moved)]) == 0


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "plain"])
def test_train_on_mnist_with_the_grey_convnet(tmp_path, gzipped, capsys):
    write_mnist(tmp_path / "mnist", mnist_arrays(train=16, test=5), gzipped=gzipped)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"), "--out", str(out), *FAST]) == 0
    assert capsys.readouterr().out.startswith("training grey-convnet on mnist: 16 training images")
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt")]) == 0
    assert capsys.readouterr().out.startswith("grey-convnet on mnist after 1 epochs: test_loss ")


def test_download_then_train(tmp_path, monkeypatch, capsys):
    served = tmp_path / "server"
    paths = write_mnist(served, mnist_arrays(train=16, test=5))
    monkeypatch.setattr(archives, "MNIST_FILES", {s: RemoteFile(p.name, **digests(p)) for s, p in paths.items()})
    data = tmp_path / "data"
    with FileServer(served) as server:
        monkeypatch.setattr(archives, "MNIST_URL", server.url)
        argv = ["train", "--dataset", "mnist", "--data-dir", str(data), "--download", "--out", str(tmp_path / "r")]
        assert main([*argv, *FAST]) == 0
    assert sorted(p.name for p in data.iterdir()) == sorted(p.name for p in paths.values())
    assert len(server.requests) == 4


def test_download_while_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(archives, "CIFAR10_URL", closed_port_url())
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--download", "--out", str(tmp_path)]
    assert main([*argv, *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), "cifar-10-python.tar.gz: no network connection (")
    assert list((tmp_path / "data").iterdir()) == []


def test_download_with_a_wrong_checksum(cifar_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile("cifar-10-python.tar.gz", sha256="0" * 64))
    data = tmp_path / "data"
    with FileServer(cifar_dir) as server:
        monkeypatch.setattr(archives, "CIFAR10_URL", server.url)
        argv = ["train", "--dataset", "cifar10", "--data-dir", str(data), "--download", "--out", str(tmp_path / "r")]
        assert main([*argv, *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), f"expected SHA256 {'0' * 64}, got ")
    assert list(data.iterdir()) == []


def test_an_archive_not_yet_unpacked_is_left_alone(tmp_path, capsys):
    archive = write_cifar_archive(tmp_path / "data", cifar_batches(per_batch=4, test=6))
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r")]
    assert main([*argv, *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), "unpack first with download_cifar10(")
    assert list(archive.parent.iterdir()) == [archive]  # training never unpacks (under torchrun, every rank would)


def test_download_checks_and_unpacks_an_archive_placed_by_hand_without_the_network(tmp_path, monkeypatch, capsys):
    archive = write_cifar_archive(tmp_path / "data", cifar_batches(per_batch=4, test=6))
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile(archive.name, **digests(archive)))
    monkeypatch.setattr(archives, "CIFAR10_URL", closed_port_url())
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(archive.parent), "--download", "--out", str(tmp_path / "r")]
    assert main([*argv, *FAST]) == 0
    assert (archive.parent / "cifar-10-batches-py" / "test_batch").is_file()


def test_a_corrupt_archive_is_not_unpacked(tmp_path, monkeypatch, capsys):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    monkeypatch.setattr(archives, "CIFAR10_URL", closed_port_url())
    argv = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--download", "--out", str(tmp_path / "r")]
    assert main([*argv, *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), "the file there now does not match: expected SHA256")
    assert not (tmp_path / "cifar-10-batches-py").exists()


MISTAKES = {
    "no data dir": (["--dataset", "cifar10"], "--dataset cifar10 needs --data-dir"),
    "data dir for digits": (["--dataset", "digits", "--data-dir", "x"], "--data-dir and --download are for cifar10"),
    "download for shapes": (["--dataset", "shapes", "--download"], "shapes needs no files"),
    "empty data dir": (["--dataset", "mnist", "--data-dir", "."], "no train-images-idx3-ubyte(.gz) in ."),
    "model does not fit mnist": (
        ["--dataset", "mnist", "--model", "digit-cnn", "--data-dir", "."],
        "--model digit-cnn expects 1×8×8 images but mnist images are 1×28×28; use --model grey-convnet",
    ),
    "grey model on cifar10": (
        ["--dataset", "cifar10", "--model", "grey-convnet", "--data-dir", "."],
        "expects 1×28×28 images but cifar10 images are 3×32×32; use --model simple-cnn",
    ),
}


@pytest.mark.parametrize("argv, message", MISTAKES.values(), ids=MISTAKES.keys())
def test_mistakes(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *argv, "--out", str(tmp_path / "r"), *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), message)


def test_download_is_refused_under_torchrun(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--download", "--out", str(tmp_path / "r")]
    assert main([*argv, *FAST]) == 2
    assert_one_line_error(capsys.readouterr(), "--download under torchrun would download once per process")

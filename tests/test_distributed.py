"""Two processes under torchrun train exactly what one process trains with the same global batch,
through `fit` and through the command line, also with augmentation and dropout (drawn for the
global batch, each process keeping its share); only rank 0 prints and writes. The sampler that
makes this true is tested on its own first."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from cnn_tutorial.checkpoints import read_checkpoint
from cnn_tutorial.cli import main
from cnn_tutorial.cli.distributed import World, distributed_device, free_port, process_group
from cnn_tutorial.training import ShardedBatchSampler

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--dataset", "digits", "--batch-size", "64", "--lr", "0.01", "--seed", "5", "--device", "cpu"]


# ---------------------------------------------------------------- the sampler


@pytest.mark.parametrize(
    "num_samples, batch_size, world_size", [(10, 4, 2), (1347, 64, 2), (100, 12, 4), (64, 64, 2), (11, 6, 3)]
)
def test_shares_put_together_are_the_single_process_batches(num_samples, batch_size, world_size):
    single = list(ShardedBatchSampler(num_samples, batch_size, seed=7))
    shares = [
        list(ShardedBatchSampler(num_samples, batch_size, rank, world_size, seed=7)) for rank in range(world_size)
    ]
    assert all(len(s) == len(single) for s in shares)
    for step, batch in enumerate(single):
        assert sum((share[step] for share in shares), []) == batch  # same samples, same order
        if len(batch) == batch_size:
            assert all(len(share[step]) == batch_size // world_size for share in shares)
    assert sorted(sum(single, [])) == list(range(num_samples))  # every sample once per epoch


def test_each_epoch_has_its_own_order_fixed_by_seed_and_epoch():
    sampler = ShardedBatchSampler(100, 10, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second
    fresh = ShardedBatchSampler(100, 10, seed=0)
    fresh.set_epoch(1)
    assert list(fresh) == second  # nothing but (seed, epoch) decides the order: resuming needs no more
    assert list(ShardedBatchSampler(100, 10, seed=1)) != first


def test_global_batch_sizes_and_length():
    sampler = ShardedBatchSampler(10, 4, rank=1, world_size=2)
    assert sampler.global_batch_sizes() == [4, 4, 2] and len(sampler) == 3


def test_batch_must_divide_among_processes():
    with pytest.raises(
        ValueError,
        match=r"batch size \(63\) is the global batch and must be a positive multiple of the number of processes \(2\)",
    ):
        ShardedBatchSampler(100, 63, world_size=2)


def test_last_batch_must_give_every_process_a_sample():
    with pytest.raises(ValueError, match="leave a last batch of 1, too few for 2 processes"):
        ShardedBatchSampler(65, 64, world_size=2)


def test_without_torchrun_everything_is_a_world_of_one(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with process_group("cpu") as world:
        assert world == World(0, 1, torch.device("cpu"))
    assert not dist.is_initialized()


@pytest.mark.parametrize(
    "gpus, asked, processes, expected",
    [
        (0, None, 2, "cpu"),
        (1, None, 2, "cpu"),  # torchrun --nproc_per_node=2 on a laptop with one GPU: gloo, not a crash
        (2, None, 2, "cuda"),
        (4, None, 2, "cuda"),
        (1, "cpu", 1, "cpu"),
        (1, "cuda", 1, "cuda"),
        (1, "cuda", 2, "fewer GPUs than processes"),  # asked for: said, not silently changed
    ],
)
def test_each_process_gets_a_gpu_of_its_own_or_the_cpu(monkeypatch, gpus, asked, processes, expected):
    monkeypatch.delenv("CNN_TUTORIAL_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if expected.startswith("fewer"):
        with pytest.raises(ValueError, match=r"2 processes on this machine need a GPU each, but it has 1: .*--device cpu"):
            distributed_device(asked, processes)
    else:
        assert distributed_device(asked, processes) == torch.device(expected)


# ---------------------------------------------------------------- fit in two processes

# Each rank calls fit as a chapter would; rank 0 saves what it got. 1347 digits in batches of 64
# leave a last batch of 3: shares of 2 and 1, the uneven case of the loss scaling. The test runs the
# same `run` in one process for comparison. The model has dropout layers (elementwise and whole
# channels) and is trained with shift-and-flip augmentation: their random draws must be made for
# the global batch for two processes to equal one.
FIT_RUN = """
import torch
from torch import nn
from cnn_tutorial.augment import compose, random_flip, random_shift
from cnn_tutorial.data import load_digits
from cnn_tutorial.training import fit, set_seed


def run():
    set_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(0.2), nn.Flatten(),
                          nn.Dropout(0.3), nn.Linear(8 * 8 * 8, 10))
    history = fit(model, load_digits("train"), epochs=2, test_set=load_digits("test"), batch_size=64, lr=0.01,
                  weight_decay=0.01, schedule="cosine", augment=compose(random_shift(1, seed=2), random_flip(seed=3)),
                  seed=9, device="cpu", progress=False)
    return model.state_dict(), history
"""

FIT_SCRIPT = FIT_RUN + """
import sys
import torch.distributed as dist

dist.init_process_group("gloo")
weights, history = run()
if dist.get_rank() == 0:
    torch.save({"model": weights, "history": history.__dict__}, sys.argv[1])
dist.barrier()
dist.destroy_process_group()
"""


def fit_in_one_process():
    namespace = {}
    exec(FIT_RUN, namespace)
    return namespace["run"]()


@pytest.mark.slow
def test_fit_in_two_gloo_processes_equals_fit_in_one(tmp_path, needs_gloo):
    script, result_path = tmp_path / "fit_ddp.py", tmp_path / "result.pt"
    script.write_text(FIT_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), str(script), str(result_path)]
    env = torchrun_environment(tmp_path, tmp_path / "unwatched")
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    ddp = torch.load(result_path, weights_only=True)
    weights, history = fit_in_one_process()
    for name, value in weights.items():
        torch.testing.assert_close(ddp["model"][name], value, rtol=0, atol=1e-5, msg=f"{name} differs")
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        assert ddp["history"][key] == pytest.approx(getattr(history, key), abs=1e-5), key


# ---------------------------------------------------------------- torchrun, two processes


# Loaded by every Python process of the torchrun test (a `sitecustomize` on PYTHONPATH is imported
# at start-up): an audit hook reports each file opened for writing, or renamed, inside the watched
# folder on that process's stderr, which torchrun keeps per rank.
WRITE_SPY = """
import os, sys

WATCHED = os.environ["CNN_TUTORIAL_WATCH"]

def report(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = args
        writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & (os.O_WRONLY | os.O_RDWR))
    elif event == "os.rename":
        path, writing = args[1], True
    else:
        return
    if writing and os.fsdecode(path).startswith(WATCHED):
        print(f"WRITE rank={os.environ.get('RANK')} {os.fsdecode(path)}", file=sys.stderr)

if "RANK" in os.environ:
    sys.addaudithook(report)
"""


def torchrun_environment(spy_folder: Path, watched: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(spy_folder), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    env["CNN_TUTORIAL_WATCH"] = str(watched)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # gloo talks over the loopback interface only, never the network
    return env


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, needs_gloo):
    """A 2-epoch run by `torchrun --nproc_per_node=2`, and each rank's stdout and stderr."""
    out = tmp_path_factory.mktemp("ddp")
    logs = tmp_path_factory.mktemp("ddp-logs")
    spy = tmp_path_factory.mktemp("spy")
    (spy / "sitecustomize.py").write_text(WRITE_SPY)
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node=2", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "--log-dir", str(logs), "--redirects", "3",  # each rank's stdout/stderr in its own file
        "-m", "cnn_tutorial", "train", *SETTINGS, "--epochs", "2", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, env=torchrun_environment(spy, out), capture_output=True, text=True, timeout=240
    )
    rank_logs = {
        int(folder.name): {"stdout": (folder / "stdout.log").read_text(), "stderr": (folder / "stderr.log").read_text()}
        for folder in logs.glob("*/attempt_0/*")
    }
    assert result.returncode == 0, result.stderr[-4000:] + "\n" + json.dumps(rank_logs)[-4000:]
    return out, rank_logs


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The same run in one process (in this one) with the same global batch."""
    out = tmp_path_factory.mktemp("single")
    assert main(["train", *SETTINGS, "--epochs", "2", "--out", str(out)]) == 0
    return out


def assert_same_run(ddp_out: Path, single_out: Path) -> None:
    ddp, single = read_checkpoint(ddp_out / "checkpoint.pt"), read_checkpoint(single_out / "checkpoint.pt")
    assert ddp["model"].keys() == single["model"].keys()
    for name, value in single["model"].items():
        torch.testing.assert_close(ddp["model"][name], value, rtol=0, atol=1e-5, msg=f"{name} differs")
    assert ddp["extra"]["world_size"] == 2 and single["extra"]["world_size"] == 1
    ddp_rows = json.loads((ddp_out / "metrics.json").read_text())
    single_rows = json.loads((single_out / "metrics.json").read_text())
    for a, b in zip(ddp_rows, single_rows, strict=True):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-5)


@pytest.mark.slow
def test_two_processes_reach_the_weights_of_one(two_processes, one_process):
    assert_same_run(two_processes[0], one_process)


AUGMENTED = [*SETTINGS, "--augment", "shift", "flip", "--epochs", "1"]


@pytest.mark.slow
def test_two_processes_augment_as_one(tmp_path, needs_gloo):
    """`--augment shift flip`: each process shifts and flips its share as one process would."""
    two, one = tmp_path / "two", tmp_path / "one"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "cnn_tutorial", "train", *AUGMENTED, "--out", str(two)]
    result = subprocess.run(command, cwd=ROOT, env=torchrun_environment(tmp_path, tmp_path / "unwatched"),
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]
    assert main(["train", *AUGMENTED, "--out", str(one)]) == 0
    assert_same_run(two, one)
    plain = tmp_path / "plain"  # the augmentation did act
    assert main(["train", *SETTINGS, "--epochs", "1", "--out", str(plain)]) == 0
    assert not torch.equal(read_checkpoint(plain / "checkpoint.pt")["model"]["fc2.weight"],
                           read_checkpoint(one / "checkpoint.pt")["model"]["fc2.weight"])


@pytest.mark.slow
def test_only_rank_0_prints(two_processes):
    _, logs = two_processes
    assert sorted(logs) == [0, 1]
    lines = logs[0]["stdout"].strip().splitlines()
    assert lines[0] == "training digit-cnn on digits: 1347 training images, 2 processes, global batch 64, cpu"
    assert [line.split("  ")[0] for line in lines[1:]] == ["epoch 1/2", "epoch 2/2"]
    assert logs[1]["stdout"] == ""
    assert "Traceback" not in logs[0]["stderr"] + logs[1]["stderr"]
    assert "epoch" not in logs[1]["stderr"]  # nor a progress bar


@pytest.mark.slow
def test_only_rank_0_writes(two_processes):
    out, logs = two_processes
    written = {
        rank: {Path(line.split(" ", 2)[2]).name for line in log["stderr"].splitlines() if line.startswith("WRITE ")}
        for rank, log in logs.items()
    }
    assert written[1] == set()
    # The spy does see rank 0's writes: temporary checkpoint, its rename, both logs.
    assert {"checkpoint.pt", "metrics.json", "metrics.csv"} <= written[0]
    assert any(name.startswith(".checkpoint.pt.tmp-") for name in written[0])
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.csv", "metrics.json"]
    assert [row["epoch"] for row in json.loads((out / "metrics.json").read_text())] == [1, 2]


@pytest.mark.slow
def test_a_two_process_run_can_be_resumed_by_one_process(two_processes, tmp_path):
    import shutil

    shutil.copytree(two_processes[0], tmp_path, dirs_exist_ok=True)
    assert main(["train", *SETTINGS, "--epochs", "3", "--out", str(tmp_path), "--resume"]) == 0
    straight = tmp_path / "straight"
    assert main(["train", *SETTINGS, "--epochs", "3", "--out", str(straight)]) == 0
    resumed, expected = read_checkpoint(tmp_path / "checkpoint.pt"), read_checkpoint(straight / "checkpoint.pt")
    for name, value in expected["model"].items():
        torch.testing.assert_close(resumed["model"][name], value, rtol=0, atol=1e-5)

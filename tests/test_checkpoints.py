"""Checkpoints: a round trip restores everything, a crash mid-write never damages the last one,
and missing or damaged files fail with one clear message."""

import random

import numpy as np
import pytest
import torch
from torch import nn

from cnn_tutorial.checkpoints import (
    get_rng_state,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    set_rng_state,
)
from cnn_tutorial.models import DigitCNN
from cnn_tutorial.history import History


def trained_model(steps: int = 3, seed: int = 0):
    """A DigitCNN and its Adam after a few steps, so the optimizer has state worth saving."""
    torch.manual_seed(seed)
    model = DigitCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        loss = model(torch.rand(4, 1, 8, 8)).logsumexp(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.fixture
def saved(tmp_path):
    model, optimizer = trained_model()
    history = History([1.0, 0.5], [0.3, 0.6], [0.9, 0.4], [0.4, 0.7])
    path = save_checkpoint(tmp_path / "checkpoint.pt", model, optimizer, 2, history, {"settings": {"lr": 0.01}})
    return path, model, optimizer, history


# ---------------------------------------------------------------- round trip


def test_round_trip_restores_weights_optimizer_epoch_history_and_extra(saved):
    path, model, optimizer, history = saved
    copy = DigitCNN()
    copy_optimizer = torch.optim.Adam(copy.parameters(), lr=0.01)
    checkpoint = load_checkpoint(path, copy, copy_optimizer)
    assert same_weights(copy, model)
    assert checkpoint.epoch == 2 and checkpoint.history == history
    assert checkpoint.extra == {"settings": {"lr": 0.01}}
    saved_state, loaded_state = optimizer.state_dict(), copy_optimizer.state_dict()
    for key, state in saved_state["state"].items():
        assert torch.equal(state["step"], loaded_state["state"][key]["step"])
        assert torch.equal(state["exp_avg"], loaded_state["state"][key]["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], loaded_state["state"][key]["exp_avg_sq"])


def test_optimizer_steps_after_loading_match_the_original(saved):
    path, model, optimizer, _ = saved
    copy = DigitCNN()
    copy_optimizer = torch.optim.Adam(copy.parameters(), lr=0.01)
    load_checkpoint(path, copy, copy_optimizer)
    batch = torch.rand(4, 1, 8, 8)
    for m, o in ((model, optimizer), (copy, copy_optimizer)):
        o.zero_grad()
        m(batch).sum().backward()
        o.step()
    assert same_weights(copy, model)


def test_random_state_round_trips_through_the_file(tmp_path):
    model, optimizer = trained_model()
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    torch.rand(3), np.random.rand(), random.random(), np.random.randn()  # leaves a cached Gaussian in NumPy
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, 1, History())
    expected = torch.rand(5), np.random.rand(5), np.random.randn(), random.random()
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    set_rng_state(load_checkpoint(path, DigitCNN()).rng_state)
    again = torch.rand(5), np.random.rand(5), np.random.randn(), random.random()
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2:] == again[2:]


def test_state_holds_only_plain_data():
    state = get_rng_state()
    assert set(state) >= {"python", "numpy", "torch"}
    assert isinstance(state["numpy"][1], list)  # not an ndarray: weights_only loading must read it


def test_checkpoint_loads_without_an_optimizer(saved):
    path, model, _, _ = saved
    copy = DigitCNN()
    assert load_checkpoint(path, copy).epoch == 2
    assert same_weights(copy, model)


def test_a_checkpoint_written_on_the_gpu_loads_on_the_cpu_and_back(tmp_path, needs_cuda):
    model, optimizer = trained_model()
    model.cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    path = save_checkpoint(tmp_path / "c.pt", model, optimizer, 1, History())
    assert {t.device.type for t in read_checkpoint(path)["model"].values()} == {"cpu"}  # read onto the CPU
    on_cpu = DigitCNN()
    load_checkpoint(path, on_cpu)
    assert {p.device.type for p in on_cpu.parameters()} == {"cpu"}
    on_gpu = DigitCNN().cuda()
    load_checkpoint(path, on_gpu, torch.optim.Adam(on_gpu.parameters()))
    assert {p.device.type for p in on_gpu.parameters()} == {"cuda"}  # into the model's device
    assert all(torch.equal(a.cpu(), b) for a, b in zip(on_gpu.parameters(), on_cpu.parameters()))


def test_missing_parent_folders_are_created(tmp_path):
    model, optimizer = trained_model(steps=0)
    path = save_checkpoint(tmp_path / "a" / "b" / "c.pt", model, optimizer, 0, History())
    assert path.is_file()


# ---------------------------------------------------------------- atomic writes


def crashing_save(exception: BaseException):
    """A torch.save that writes part of the file, then fails as a full disk or Ctrl-C would."""
    real_save = torch.save

    def save(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        file.seek(0)
        file.truncate(50)  # only the first 50 bytes made it
        raise exception

    return save


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_crash_while_writing_keeps_the_previous_checkpoint(saved, monkeypatch, exception):
    path, model, _, _ = saved
    before = path.read_bytes()
    newer, newer_optimizer = trained_model(steps=5, seed=1)
    monkeypatch.setattr(torch, "save", crashing_save(exception))
    with pytest.raises(type(exception)):
        save_checkpoint(path, newer, newer_optimizer, 3, History())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind
    copy = DigitCNN()
    assert load_checkpoint(path, copy).epoch == 2
    assert same_weights(copy, model)


def test_a_crash_before_the_first_checkpoint_leaves_no_file(tmp_path, monkeypatch):
    model, optimizer = trained_model(steps=0)
    monkeypatch.setattr(torch, "save", crashing_save(OSError("disk full")))
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "checkpoint.pt", model, optimizer, 1, History())
    assert list(tmp_path.iterdir()) == []


def test_saving_replaces_the_file_by_renaming(saved, monkeypatch):
    import os

    path, model, optimizer, history = saved
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((src, dst)), real_replace(src, dst)))
    save_checkpoint(path, model, optimizer, 3, history)
    [(source, target)] = renames
    assert source.parent == path.parent and target == path  # same folder: the rename is atomic
    assert load_checkpoint(path, DigitCNN()).epoch == 3


# ---------------------------------------------------------------- clear errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^no checkpoint at .*nothing\.pt$"):
        load_checkpoint(tmp_path / "nothing.pt", DigitCNN())


def test_a_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path, DigitCNN())


@pytest.mark.parametrize("keep", [0, 10, 100, 1000, -10])
def test_truncated_file(saved, keep):
    path = saved[0]
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(ValueError) as error:
        load_checkpoint(path, DigitCNN())
    message = str(error.value)
    assert "truncated or corrupt" in message and "expected a checkpoint written by save_checkpoint" in message
    assert "\n" not in message


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_checkpoint(path)


def test_a_torch_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(DigitCNN().state_dict(), path)
    with pytest.raises(
        ValueError, match="is not a cnn_tutorial checkpoint; expected a checkpoint written by save_checkpoint"
    ):
        load_checkpoint(path, DigitCNN())


def test_weights_of_another_model(saved):
    with pytest.raises(ValueError, match=r"does not fit Linear: .*Missing key") as error:
        load_checkpoint(saved[0], nn.Linear(2, 2))
    assert "\n" not in str(error.value)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loading_never_runs_code_stored_in_the_file(tmp_path):
    marker = tmp_path / "was-run"
    path = tmp_path / "evil.pt"
    torch.save({"format": "cnn-tutorial-checkpoint/1", "payload": _RunsCode(marker)}, path)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()

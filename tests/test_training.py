"""Seeding, device choice, `fit`, `evaluate` and `History`."""

import random
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from cnn_tutorial import training
from cnn_tutorial.augment import Share
from cnn_tutorial.checkpoints import ResumeError
from cnn_tutorial.data import ImageSet, load_digits
from cnn_tutorial.training import Evaluation, History, evaluate, fit, model_device, pick_device, set_seed


@pytest.fixture(scope="module")
def digits():
    return load_digits("train"), load_digits("test")


@pytest.fixture(scope="module")
def small_train(digits):
    train, _ = digits
    return ImageSet(train.images[:256], train.labels[:256], train.classes)


def linear_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def small_conv():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )


def draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


# ---------------------------------------------------------------- set_seed


def test_set_seed_repeats_every_generator():
    set_seed(123)
    a = draws()
    set_seed(123)
    b = draws()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    set_seed(124)
    c = draws()
    assert a[0] != c[0] and a[1] != c[1] and not torch.equal(a[2], c[2])


def test_set_seed_makes_model_initialisation_repeatable():
    set_seed(7)
    first = small_conv().state_dict()
    set_seed(7)
    second = small_conv().state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


# ---------------------------------------------------------------- pick_device


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("CNN_TUTORIAL_DEVICE", raising=False)


def test_pick_cpu(no_env):
    assert pick_device("cpu") == torch.device("cpu")


def test_pick_cuda_without_cuda_raises(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same answer on a machine with a GPU
    with pytest.raises(ValueError, match="'cuda'.*not available") as info:
        pick_device("cuda")
    assert "cpu" in str(info.value)  # names what is available


def test_pick_automatic_without_accelerators(no_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device(None) == torch.device("cpu")


def test_pick_prefers_cuda_when_present(no_env, monkeypatch):
    # torch.device("cuda") can be built without a GPU, so the choice is testable anywhere.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    assert pick_device("cuda:1") == torch.device("cuda", 1)


def test_env_var_is_respected(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("CNN_TUTORIAL_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")  # automatic choice would be cuda
    # An explicit argument wins over the variable.
    assert pick_device("cuda") == torch.device("cuda")


def test_env_var_asking_for_a_missing_device_raises(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CNN_TUTORIAL_DEVICE", "cuda")
    with pytest.raises(ValueError, match="cuda"):
        pick_device()


def test_empty_env_var_means_automatic(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("CNN_TUTORIAL_DEVICE", "")
    assert pick_device() == torch.device("cpu")


# ---------------------------------------------------------------- fit


def trained(seed, data, shuffle_seed=0, epochs=2):
    set_seed(seed)
    model = small_conv()
    history = fit(model, data, epochs=epochs, batch_size=32, lr=1e-2, seed=shuffle_seed,
                  device="cpu", progress=False)
    return model, history


def test_fit_is_repeatable(small_train):
    model_a, history_a = trained(0, small_train)
    model_b, history_b = trained(0, small_train)
    assert history_a == history_b
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    # ...and it did train: the weights moved away from the initialisation.
    set_seed(0)
    initial = small_conv().state_dict()
    assert not all(torch.equal(initial[k], state_a[k]) for k in state_a)


def test_fit_shuffle_seed_matters(small_train):
    _, history_a = trained(0, small_train, shuffle_seed=0)
    _, history_b = trained(0, small_train, shuffle_seed=1)
    assert history_a.train_loss != history_b.train_loss


def test_fit_learns_digits_linear(digits):
    train, test = digits
    set_seed(0)
    model = linear_model()
    history = fit(model, train, epochs=4, test_set=test, lr=1e-2, device="cpu", progress=False)
    assert history.epochs == 4
    assert len(history.test_accuracy) == len(history.test_loss) == 4
    assert history.train_loss[-1] < history.train_loss[0]
    # Accuracy computed here, without `evaluate`.
    model.eval()
    with torch.no_grad():
        predictions = model(test.images).argmax(dim=1)
    accuracy = (predictions == test.labels).float().mean().item()
    assert accuracy > 0.85
    assert history.test_accuracy[-1] == pytest.approx(accuracy)


def test_fit_learns_digits_small_conv(digits):
    train, test = digits
    set_seed(0)
    model = small_conv()
    history = fit(model, train, epochs=3, test_set=test, lr=1e-2, device="cpu", progress=False)
    assert history.test_accuracy[-1] > 0.85
    assert all(0.0 <= a <= 1.0 for a in history.train_accuracy + history.test_accuracy)


def test_fit_without_test_set(small_train):
    _, history = trained(0, small_train, epochs=1)
    assert history.epochs == 1 and history.test_loss == [] and history.test_accuracy == []


def test_fit_trains_on_the_device_it_is_given(small_train, monkeypatch):
    # On a CPU-only machine every device is the CPU, so what is checked is that the given device
    # (not an automatic choice) decides, and that the weights there were trained; the CUDA case
    # is test_fit_on_cuda_matches_the_cpu.
    asked = []
    monkeypatch.setattr(training, "pick_device", lambda device=None: asked.append(device) or pick_device(device))
    set_seed(0)
    model = linear_model()
    before = [p.detach().clone() for p in model.parameters()]
    fit(model, small_train, epochs=1, device=torch.device("cpu"), progress=False)
    assert asked == [torch.device("cpu")]
    assert model_device(model) == torch.device("cpu")
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model.training  # fit returns the model ready to use, in evaluation mode


def test_fit_on_cuda_matches_the_cpu(small_train, needs_cuda):
    set_seed(0)
    model = small_conv()
    on_cpu = fit(model, small_train, epochs=2, batch_size=32, lr=1e-2, device="cpu", progress=False)
    set_seed(0)
    model = small_conv()
    on_gpu = fit(model, small_train, epochs=2, batch_size=32, lr=1e-2, device=torch.device("cuda"), progress=False)
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert on_gpu.train_loss == pytest.approx(on_cpu.train_loss, rel=1e-3)


class OneByOne(torch.utils.data.Dataset):
    """A data set that can only give one sample at a time: fit must fall back to a DataLoader."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index: int):
        return self.data.images[index], self.data.labels[index]


def test_batch_indexing_and_one_by_one_loading_train_alike(small_train):
    a_model, a_history = trained(0, small_train)
    set_seed(0)
    b_model = small_conv()
    b_history = fit(b_model, OneByOne(small_train), epochs=2, batch_size=32, lr=1e-2, device="cpu", progress=False)
    assert a_history == b_history
    assert all(torch.equal(a, b) for a, b in zip(a_model.state_dict().values(), b_model.state_dict().values()))


def dropout_conv():
    return nn.Sequential(small_conv(), nn.Dropout(0.3))


def test_fit_resumed_from_a_checkpoint_equals_an_uninterrupted_fit(small_train, digits, tmp_path):
    options = dict(epochs=4, test_set=digits[1], batch_size=32, lr=1e-2, weight_decay=0.05, schedule="cosine",
                   seed=3, device="cpu", progress=False)
    set_seed(0)
    straight = dropout_conv()  # dropout draws from the global generator: the checkpoint must restore it
    expected = fit(straight, small_train, **options)

    def stop_after_two(history):
        if history.epochs == 2:
            raise KeyboardInterrupt

    set_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(dropout_conv(), small_train, checkpoint=tmp_path / "run.pt", on_epoch=stop_after_two, **options)
    set_seed(1)  # a fresh process: other weights and generator states until the checkpoint is read
    resumed_model = dropout_conv()
    resumed = fit(resumed_model, small_train, checkpoint=tmp_path / "run.pt", resume=True, **options)
    assert resumed == expected and resumed.epochs == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs"


def test_fit_refuses_a_checkpoint_of_other_settings(small_train, tmp_path):
    set_seed(0)
    fit(linear_model(), small_train, epochs=1, lr=0.01, checkpoint=tmp_path / "run.pt", device="cpu", progress=False)
    model = linear_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ResumeError, match=r"trained with lr=0.01 \(not 0.02\)"):
        fit(model, small_train, epochs=2, lr=0.02, checkpoint=tmp_path / "run.pt", resume=True, device="cpu",
            progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # checked before loading anything
    with pytest.raises(ResumeError, match=r"run_a.pt was trained with model='a' \(not 'b'\)"):
        path = tmp_path / "run_a.pt"
        fit(linear_model(), small_train, epochs=1, checkpoint=path, run_settings={"model": "a"}, progress=False)
        fit(linear_model(), small_train, epochs=2, checkpoint=path, run_settings={"model": "b"}, resume=True,
            progress=False)


def test_fit_never_silently_resumes_or_overwrites_a_checkpoint(small_train, tmp_path):
    path = tmp_path / "run.pt"
    options = dict(epochs=1, lr=0.01, checkpoint=path, device="cpu", progress=False)
    set_seed(0)
    fit(linear_model(), small_train, **options)
    written = path.read_bytes()
    with pytest.raises(ValueError, match=r"run.pt already exists; pass resume=True to continue that run"):
        fit(linear_model(), small_train, **options)
    assert path.read_bytes() == written
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        fit(linear_model(), small_train, **(options | {"checkpoint": tmp_path / "missing.pt"}), resume=True)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint"):
        fit(linear_model(), small_train, epochs=1, resume=True)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(lr=float("nan")), "lr must be a finite positive number, got nan"),
        (dict(lr=0.0), "lr must be a finite positive number, got 0.0"),
        (dict(lr=float("inf")), "lr must be a finite positive number, got inf"),
        (dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0, got -0.1"),
        (dict(train_set=TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))),
         "train_set is empty: there is nothing to train on"),
    ],
)
def test_fit_refuses_inputs_it_cannot_train_with(small_train, options, message):
    arguments = dict(train_set=small_train, epochs=1, device="cpu", progress=False) | options
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(linear_model(), **arguments)


def test_fit_progress_false_prints_nothing(small_train, capsys):
    set_seed(0)
    fit(linear_model(), small_train, epochs=1, device="cpu", progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""


@pytest.mark.parametrize("kwargs", [dict(epochs=0), dict(epochs=-1), dict(epochs=1, batch_size=0)])
def test_fit_rejects_bad_counts(small_train, kwargs):
    model = linear_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=">= 1"):
        fit(model, small_train, device="cpu", progress=False, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# ---------------------------------------------------------------- evaluate


def test_evaluate_matches_a_direct_computation(digits):
    _, test = digits
    set_seed(0)
    model = linear_model()
    result = evaluate(model, test)
    assert isinstance(result, Evaluation)
    with torch.no_grad():
        logits = model(test.images)
    assert result.loss == pytest.approx(F.cross_entropy(logits, test.labels).item(), rel=1e-5)
    assert result.accuracy == pytest.approx((logits.argmax(1) == test.labels).float().mean().item())


def test_evaluate_ignores_batch_size_uses_eval_mode_and_leaves_the_model_as_it_was(digits):
    _, test = digits
    set_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(72, 10))
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    a = evaluate(model, test, batch_size=7)
    b = evaluate(model, test, batch_size=1000)
    assert a.accuracy == b.accuracy  # dropout off and batch norm frozen: the batches do not matter
    assert a.loss == pytest.approx(b.loss, rel=1e-5)
    assert model.training  # back in the mode it was in
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())  # running stats untouched
    model.eval()
    evaluate(model, test)
    assert not model.training


@pytest.mark.parametrize("model", [linear_model(), nn.Flatten()], ids=["with", "without parameters"])
def test_evaluate_on_empty_dataset_raises(model):
    empty = ImageSet(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long), list("0123456789"))
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, empty)


# ---------------------------------------------------------------- History


def test_history_table_one_row_per_epoch():
    h = History([1.0, 0.5, 0.25], [0.5, 0.75, 0.875], [1.1, 0.6, 0.3], [0.4, 0.7, 0.9])
    lines = h.table().splitlines()
    assert len(lines) == 1 + h.epochs == 4
    assert lines[0].split() == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"]
    for i, line in enumerate(lines[1:]):
        cells = line.split()
        assert int(cells[0]) == i + 1
        assert float(cells[1]) == pytest.approx(h.train_loss[i])
        assert float(cells[2].rstrip("%")) / 100 == pytest.approx(h.train_accuracy[i])
        assert float(cells[3]) == pytest.approx(h.test_loss[i])
        assert float(cells[4].rstrip("%")) / 100 == pytest.approx(h.test_accuracy[i])


def test_history_table_without_test_columns():
    h = History([0.9, 0.3], [0.6, 0.8])
    lines = h.table().splitlines()
    assert len(lines) == 3
    assert "test" not in h.table()
    assert all(len(line.split()) == 3 for line in lines)


def test_history_table_of_a_real_run(small_train):
    _, history = trained(0, small_train, epochs=3)
    assert len(history.table().splitlines()) == 1 + 3


# ---------------------------------------------------------------- dropout drawn for the global batch


@pytest.mark.parametrize(
    "layer, shape",
    [(nn.Dropout(0.3), (6, 5)), (nn.Dropout1d(0.5), (6, 3, 7)), (nn.Dropout2d(0.4), (6, 3, 4, 4)),
     (nn.Dropout3d(0.5), (6, 2, 2, 2, 2)), (nn.Dropout(0.3, inplace=True), (5, 4))],
    ids=["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "inplace"],
)
def test_dropout_per_global_batch_is_pytorchs_in_one_process_and_its_slices_in_several(layer, shape):
    x = torch.rand(shape) + 1  # no zeros: a dropped value is visible
    torch.manual_seed(0)
    native = layer(x.clone())
    with training._dropout_per_global_batch(layer) as use_share:
        use_share(Share(len(x)))
        torch.manual_seed(0)
        one = layer(x.clone())
        shares = []
        for rank in range(2):  # each process, its generators seeded alike, holds half of the batch
            use_share(Share(len(x), rank, 2))
            torch.manual_seed(0)
            shares.append(layer(x.tensor_split(2)[rank].clone()))
    assert torch.equal(one, native)  # one process: exactly PyTorch's own CPU dropout
    assert torch.equal(torch.cat(shares), native)  # two processes: the same masks, each on its images
    assert not torch.equal(shares[0] == 0, shares[1][: len(shares[0])] == 0)  # not the same mask twice
    assert "forward" not in vars(layer)  # the layer is itself again


class _FakeGroup:
    """Just enough of torch.distributed for train_one_epoch to act as one rank of two (sums stay local)."""

    ReduceOp = torch.distributed.ReduceOp

    def __init__(self, rank):
        self.rank = rank

    def is_available(self):
        return True

    def is_initialized(self):
        return True

    def get_rank(self):
        return self.rank

    def get_world_size(self):
        return 2

    def all_reduce(self, tensor, op=None):
        pass


def test_an_augment_without_share_draws_differently_on_each_rank_and_leaves_the_generators_in_step(
    small_train, monkeypatch
):
    draws = {}
    for rank in (0, 1):
        monkeypatch.setattr(training, "dist", _FakeGroup(rank))
        seen = []

        def plain(batch):
            seen.append(torch.rand(1).item())  # a user's augmentation drawing from torch's global generator
            return batch

        set_seed(0)
        model = linear_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        training.train_one_epoch(model, small_train, optimizer, epoch=0, batch_size=64, augment=plain)
        draws[rank] = seen, torch.rand(1).item()
    assert draws[0][0] != draws[1][0]  # the ranks augment differently
    assert draws[0][1] == draws[1][1]  # and the global generator, which dropout uses, is where it was on both

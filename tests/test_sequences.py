"""The generated sequence data sets: waves, next-step pairs, symbol order, `SequenceSet`."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cnn_tutorial.sequences import (
    ORDER_ALPHABET,
    ORDER_CLASSES,
    SequenceSet,
    decode_symbols,
    make_symbol_order,
    make_waves,
    next_step_pairs,
)


# ---------------------------------------------------------------- make_waves


def test_waves_are_deterministic_and_seed_dependent():
    assert torch.equal(make_waves(10, 30, seed=3), make_waves(10, 30, seed=3))
    assert not torch.equal(make_waves(10, 30, seed=3), make_waves(10, 30, seed=4))


def test_clean_waves_are_sines_within_the_requested_band():
    waves = make_waves(200, 400, seed=0, noise=0.0, frequencies=(0.05, 0.1))
    assert waves.abs().max() <= 1.0
    peaks = waves.abs().max(dim=1).values
    assert peaks.min() >= 0.45  # amplitudes are drawn from [0.5, 1]
    spectrum = np.abs(np.fft.rfft(waves.numpy(), axis=1))
    dominant = spectrum.argmax(axis=1) / waves.shape[1]  # cycles per step
    assert np.all((dominant >= 0.05 - 1 / 400) & (dominant <= 0.1 + 1 / 400))


def test_noise_has_the_requested_standard_deviation():
    clean = make_waves(300, 200, seed=1, noise=0.0)
    noisy = make_waves(300, 200, seed=1, noise=0.1)
    assert (noisy - clean).std().item() == pytest.approx(0.1, rel=0.03)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_series": 0, "length": 10}, "num_series"),
        ({"num_series": 3, "length": 1}, "length"),
        ({"num_series": 3, "length": 10, "noise": -1.0}, "noise"),
        ({"num_series": 3, "length": 10, "frequencies": (0.2, 0.1)}, "frequencies"),
        ({"num_series": 3, "length": 10, "frequencies": (0.1, 0.6)}, "frequencies"),
    ],
)
def test_waves_reject_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_waves(**kwargs)


# ---------------------------------------------------------------- next_step_pairs


def test_targets_are_inputs_shifted_by_one_step():
    series = make_waves(5, 20, seed=0)
    inputs, targets = next_step_pairs(series).tensors
    assert inputs.shape == targets.shape == (5, 19, 1)
    assert torch.equal(inputs[:, :, 0], series[:, :-1])
    assert torch.equal(targets[:, :, 0], series[:, 1:])
    assert not torch.equal(inputs, targets)


def test_pairs_keep_feature_dimension():
    inputs, targets = next_step_pairs(torch.randn(2, 6, 3)).tensors
    assert inputs.shape == targets.shape == (2, 5, 3)


@pytest.mark.parametrize("bad", [torch.zeros(5), torch.zeros(1, 2, 3, 4), torch.zeros(3, 1)])
def test_pairs_reject_bad_shapes(bad):
    with pytest.raises(ValueError):
        next_step_pairs(bad)


# ---------------------------------------------------------------- make_symbol_order


@pytest.fixture(scope="module")
def order():
    return make_symbol_order(400, length=32, seed=0)


def test_order_shapes_classes_and_balance(order):
    assert order.sequences.shape == (400, len(ORDER_ALPHABET), 32)
    assert order.classes == ORDER_CLASSES
    assert set(order.class_counts().values()) == {100}
    assert torch.equal(order.sequences.sum(dim=1), torch.ones(400, 32))  # one-hot


def test_label_is_the_order_of_the_two_markers(order):
    for sequence, label in zip(order.sequences, order.labels):
        text = decode_symbols(sequence)
        positions = [i for i, s in enumerate(text) if s in "XY"]
        assert len(positions) == 2
        first, second = positions
        assert 3 <= first < 10 and 16 <= second < 21
        assert order.classes[label] == f"{text[first]}…{text[second]}"


def test_order_is_deterministic_and_seed_dependent(order):
    assert torch.equal(order.sequences, make_symbol_order(400, length=32, seed=0).sequences)
    assert not torch.equal(order.sequences, make_symbol_order(400, length=32, seed=1).sequences)


def test_order_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_sequences"):
        make_symbol_order(0)
    with pytest.raises(ValueError, match="length"):
        make_symbol_order(4, length=8)


def test_decode_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="one channel per symbol"):
        decode_symbols(torch.zeros(4, 10))


# ---------------------------------------------------------------- SequenceSet


def test_sequence_set_batches_like_conv1d_wants(order):
    sequences, labels = next(iter(DataLoader(order, batch_size=16)))
    assert sequences.shape == (16, 6, 32)
    assert labels.dtype == torch.long


@pytest.mark.parametrize(
    "sequences, labels, message",
    [
        (torch.zeros(3, 2, 5), torch.zeros(4), "labels must be shaped"),
        (torch.zeros(3, 2, 5), torch.tensor([0, 1, 2]), "labels must lie in 0..1"),
        (torch.zeros(3, 2, 5), torch.tensor([0, -1, 1]), "labels must lie"),
    ],
)
def test_sequence_set_validates(sequences, labels, message):
    with pytest.raises(ValueError, match=message):
        SequenceSet(sequences, labels, ["a", "b"])

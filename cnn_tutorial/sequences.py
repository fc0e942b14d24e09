"""Sequence data generated from a seed: the data of the rnn and sequence-convnets chapters.

中文：由随机种子生成的序列数据：“循环神经网络”与“使用卷积网络进行序列处理”两章的数据。

- `make_waves`: noisy sine waves of random frequency, phase and amplitude,
  one series per row; `next_step_pairs` turns them into (input, target)
  pairs for next-step prediction, the target being the input shifted by one
  step.
- `make_symbol_order`: strings over the alphabet `abcdXY` that hide two
  markers (`X` or `Y`) among random distractors; the class is the markers'
  order (`X…X`, `X…Y`, `Y…X`, `Y…Y`). A model must remember the first
  marker until it has seen the second, so context far back matters.

Classification data comes as a `SequenceSet`, a `Dataset` of
`(sequence, label)` pairs laid out like `nn.Conv1d` wants them:
(channels, length) per sequence.
"""

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from cnn_tutorial.data import check_labelled, count_classes

#: Symbols of `make_symbol_order`: four distractors, then the two markers.
ORDER_ALPHABET = "abcdXY"
#: Classes of `make_symbol_order`, in label order: (first marker, second marker).
ORDER_CLASSES = ("X…X", "X…Y", "Y…X", "Y…Y")


class SequenceSet(Dataset):
    """Sequences and integer labels held in memory, with the names of the classes.

    Each sequence is shaped (C, L), channels first, as `nn.Conv1d` expects;
    a batch from a `DataLoader` is then (N, C, L). A recurrent layer with
    `batch_first=True` wants (N, L, C) instead: transpose the last two axes.

    Args:
        sequences: Float tensor shaped (N, C, L).
        labels: Integer tensor shaped (N,), each in `range(len(classes))`.
        classes: The class names; `classes[label]` names a label.

    Raises:
        ValueError: If the shapes or labels do not fit together.

    Examples:
        >>> data = SequenceSet(torch.zeros(4, 2, 10), torch.tensor([0, 1, 1, 0]), ["a", "b"])
        >>> len(data), data.class_counts()
        (4, {'a': 2, 'b': 2})
        >>> sequence, label = data[1]
        >>> sequence.shape, label.item()
        (torch.Size([2, 10]), 1)
        >>> SequenceSet(torch.zeros(4, 10), torch.zeros(4), ["a"])
        Traceback (most recent call last):
            ...
        ValueError: sequences must be shaped (N, C, L), got (4, 10)
    """

    def __init__(self, sequences: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]) -> None:
        self.sequences, self.labels, self.classes = check_labelled(sequences, labels, classes, "sequences", "(N, C, L)")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sequences[index], self.labels[index]

    def class_counts(self) -> dict[str, int]:
        """How many sequences each class has, by class name."""
        return count_classes(self.labels, self.classes)


def make_waves(
    num_series: int,
    length: int,
    seed: int = 0,
    noise: float = 0.05,
    frequencies: tuple[float, float] = (0.02, 0.1),
) -> torch.Tensor:
    """Noisy sine waves, one per row: `a · sin(2π f t + φ) + noise`.

    Each series draws its own amplitude `a` in [0.5, 1], frequency `f` (in
    cycles per step) in `frequencies` and phase `φ` in [0, 2π), so a model
    cannot memorize one curve: it has to infer the wave from the steps it
    has seen. The noise is Gaussian with standard deviation `noise`,
    independent at every step, and therefore unpredictable: no model can
    predict the next value with a mean squared error below `noise ** 2`.

    Args:
        num_series: How many series (rows).
        length: Steps per series.
        seed: Seed of the generator; use different seeds for train and test.
        noise: Standard deviation of the added noise (0 for clean waves).
        frequencies: Lowest and highest frequency, in cycles per step.

    Returns:
        A float tensor shaped (num_series, length).

    Raises:
        ValueError: If `num_series` or `length` is below 1 or 2, `noise` is
            negative, or the frequencies are not 0 < low <= high <= 0.5.

    Examples:
        >>> waves = make_waves(3, 100, seed=0)
        >>> waves.shape, waves.dtype
        (torch.Size([3, 100]), torch.float32)
        >>> torch.equal(waves, make_waves(3, 100, seed=0))
        True
        >>> bool(make_waves(50, 100, noise=0.0).abs().max() <= 1.0)
        True
    """
    if num_series < 1 or length < 2:
        raise ValueError(f"num_series must be >= 1 and length >= 2, got {num_series} and {length}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    low, high = frequencies
    if not 0 < low <= high <= 0.5:
        raise ValueError(f"frequencies must satisfy 0 < low <= high <= 0.5 cycles per step, got {frequencies}")
    rng = np.random.default_rng(seed)
    amplitude = rng.uniform(0.5, 1.0, size=(num_series, 1))
    frequency = rng.uniform(low, high, size=(num_series, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(num_series, 1))
    steps = np.arange(length)
    clean = amplitude * np.sin(2 * np.pi * frequency * steps + phase)
    noisy = clean + noise * rng.standard_normal((num_series, length))
    return torch.from_numpy(noisy.astype(np.float32))


def next_step_pairs(series: torch.Tensor) -> TensorDataset:
    """Inputs and targets for next-step prediction: the target is the input shifted by one.

    For a series `s_0 … s_{L-1}`, the input is `s_0 … s_{L-2}` and the target
    `s_1 … s_{L-1}`: at every step `t` the model sees `s_0 … s_t` and must
    predict `s_{t+1}`. (A target equal to the input would ask the model to
    copy what it already sees.)

    Args:
        series: Shaped (N, L) (one value per step) or (N, L, F) (F features).

    Returns:
        A `TensorDataset` of `(input, target)` pairs, each shaped (L-1, F)
        (F = 1 for a 2-D `series`), ready for a recurrent layer with
        `batch_first=True`.

    Raises:
        ValueError: If `series` is not 2-D or 3-D, or shorter than 2 steps.

    Examples:
        >>> pairs = next_step_pairs(torch.tensor([[0., 1., 2., 3.]]))
        >>> inputs, targets = pairs.tensors
        >>> inputs.squeeze(-1), targets.squeeze(-1)
        (tensor([[0., 1., 2.]]), tensor([[1., 2., 3.]]))
        >>> inputs.shape
        torch.Size([1, 3, 1])
    """
    if series.dim() == 2:
        series = series.unsqueeze(-1)
    if series.dim() != 3:
        raise ValueError(f"series must be shaped (N, L) or (N, L, F), got {tuple(series.shape)}")
    if series.shape[1] < 2:
        raise ValueError(f"series needs at least 2 steps to make a pair, got {series.shape[1]}")
    return TensorDataset(series[:, :-1], series[:, 1:])


def make_symbol_order(num_sequences: int, length: int = 32, seed: int = 0) -> SequenceSet:
    """Strings of random distractors hiding two markers; the class is the markers' order.

    Every string has `length` symbols drawn from `abcd`, except two markers,
    each `X` or `Y`: the first somewhere in the first third of the string,
    the second in the middle third (positions `[length // 10, length // 3)`
    and `[length // 2, 2 * length // 3)`). The label says which markers came
    in which order: `X…X`, `X…Y`, `Y…X` or `Y…Y` (a version of the
    "temporal order" problem of Hochreiter and Schmidhuber, 1997). A model
    that reads the string left to right and answers at the end must carry
    the first marker across many distractors. Classes are balanced.

    The symbols are one-hot encoded: 6 channels, one per symbol of
    `ORDER_ALPHABET`.

    Args:
        num_sequences: How many strings.
        length: Symbols per string.
        seed: Seed of the generator; use different seeds for train and test.

    Returns:
        A `SequenceSet` with sequences shaped (num_sequences, 6, length) and
        labels 0–3 naming `ORDER_CLASSES`.

    Raises:
        ValueError: If `num_sequences` < 1 or `length` < 12.

    Examples:
        >>> data = make_symbol_order(8, length=24, seed=0)
        >>> data.sequences.shape
        torch.Size([8, 6, 24])
        >>> text = decode_symbols(data.sequences[0])
        >>> len(text), sorted(set(text) - set("abcd")) <= ["X", "Y"]
        (24, True)
        >>> markers = "".join(s for s in text if s in "XY")
        >>> data.classes[data.labels[0]] == f"{markers[0]}…{markers[1]}"
        True
    """
    if num_sequences < 1:
        raise ValueError(f"num_sequences must be >= 1, got {num_sequences}")
    if length < 12:
        raise ValueError(f"length must be >= 12 symbols, got {length}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_sequences) % len(ORDER_CLASSES))
    symbols = rng.integers(0, 4, size=(num_sequences, length))  # distractors a-d
    first = rng.integers(length // 10, length // 3, size=num_sequences)
    second = rng.integers(length // 2, 2 * length // 3, size=num_sequences)
    rows = np.arange(num_sequences)
    symbols[rows, first] = 4 + labels // 2  # 4 = X, 5 = Y
    symbols[rows, second] = 4 + labels % 2
    one_hot = F.one_hot(torch.from_numpy(symbols), len(ORDER_ALPHABET)).float()
    return SequenceSet(one_hot.transpose(1, 2), torch.from_numpy(labels), ORDER_CLASSES)


def decode_symbols(sequence: torch.Tensor) -> str:
    """The string a one-hot sequence of `make_symbol_order` encodes.

    Args:
        sequence: Shaped (6, L), one channel per symbol of `ORDER_ALPHABET`.

    Returns:
        A string of L symbols.

    Raises:
        ValueError: If `sequence` does not have one channel per symbol.

    Examples:
        >>> one_hot = torch.eye(6)[[0, 4, 1, 5]].T  # a X b Y
        >>> decode_symbols(one_hot)
        'aXbY'
    """
    if sequence.dim() != 2 or sequence.shape[0] != len(ORDER_ALPHABET):
        raise ValueError(
            f"sequence must be shaped ({len(ORDER_ALPHABET)}, L), one channel per symbol, "
            f"got {tuple(sequence.shape)}"
        )
    return "".join(ORDER_ALPHABET[i] for i in sequence.argmax(dim=0).tolist())

"""Recurrent networks: an Elman cell by hand, sequence predictors and classifiers.

- `ElmanCell` and `ElmanRNN`: the recurrence
  `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)` written out, with the
  parameter names and shapes of `nn.RNN`, so the two can be compared weight
  for weight (`ElmanRNN.load_from`).
- `SequencePredictor`: `nn.RNN`, `nn.LSTM` or `nn.GRU` plus a linear layer
  that predicts the next value at every step; `fit_regression` trains it
  with the mean squared error.
- `RNNClassifier`: reads a sequence shaped (N, C, L), like a 1-D convnet,
  and classifies it from the last hidden state.
- `jacobian_norm_by_distance`: how strongly the last hidden state depends
  on the input `k` steps earlier, the measurement behind "vanishing
  gradients".
"""

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cnn_tutorial.training import pick_device

#: The recurrent layers `SequencePredictor` and `RNNClassifier` can use.
RECURRENT_LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class ElmanCell(nn.Module):
    """One step of an Elman network: `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`.

    The parameters have the names and shapes of `nn.RNNCell`'s (and of
    `nn.RNN`'s first layer without the `_l0` suffix), and the same
    initialisation: uniform in `[-1/√H, 1/√H]` for a hidden size `H`.

    Args:
        input_size: Features per step, `I`.
        hidden_size: Size of the hidden state, `H`.

    Examples:
        >>> cell = ElmanCell(input_size=3, hidden_size=5)
        >>> [(name, tuple(p.shape)) for name, p in cell.named_parameters()]
        [('weight_ih', (5, 3)), ('weight_hh', (5, 5)), ('bias_ih', (5,)), ('bias_hh', (5,))]
        >>> h = cell(torch.zeros(2, 3), torch.zeros(2, 5))
        >>> h.shape
        torch.Size([2, 5])
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size).uniform_(-bound, bound))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The next hidden state (N, H) from the input (N, I) and the previous state (N, H)."""
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)


class ElmanRNN(nn.Module):
    """An `ElmanCell` applied step by step along a sequence, like `nn.RNN(batch_first=True)`.

    Args:
        input_size: Features per step, `I`.
        hidden_size: Size of the hidden state, `H`.

    Examples:
        >>> rnn = ElmanRNN(input_size=1, hidden_size=4)
        >>> outputs, h_n = rnn(torch.zeros(2, 7, 1))
        >>> outputs.shape, h_n.shape
        (torch.Size([2, 7, 4]), torch.Size([1, 2, 4]))
        >>> torch.equal(outputs[:, -1], h_n[0])  # the last output is the final state
        True
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.cell = ElmanCell(input_size, hidden_size)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the cell over the sequence.

        Args:
            x: Inputs shaped (N, L, I).
            h0: Initial state shaped (1, N, H), as `nn.RNN` takes it; zeros if `None`.

        Returns:
            `(outputs, h_n)`: every step's hidden state, shaped (N, L, H), and
            the last one shaped (1, N, H).

        Raises:
            ValueError: If `x` is not shaped (N, L, I) for this cell's `I`.
        """
        if x.dim() != 3 or x.shape[2] != self.cell.input_size:
            raise ValueError(
                f"ElmanRNN expects input shaped (N, L, {self.cell.input_size}), got {tuple(x.shape)}"
            )
        h = x.new_zeros(x.shape[0], self.cell.hidden_size) if h0 is None else h0[0]
        outputs = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h.unsqueeze(0)

    @torch.no_grad()
    def load_from(self, rnn: nn.RNN) -> "ElmanRNN":
        """Copy the weights of a one-layer, one-directional tanh `nn.RNN` into this network.

        Args:
            rnn: The `nn.RNN` to copy; `batch_first` does not matter.

        Returns:
            This network, for chaining.

        Raises:
            ValueError: If `rnn` has more layers, is bidirectional, uses ReLU,
                has no biases, or has other sizes than this network.

        Examples:
            >>> torch_rnn = nn.RNN(input_size=2, hidden_size=3, batch_first=True)
            >>> ours = ElmanRNN(2, 3).load_from(torch_rnn)
            >>> torch.equal(ours.cell.weight_hh, torch_rnn.weight_hh_l0)
            True
            >>> ElmanRNN(2, 4).load_from(torch_rnn)
            Traceback (most recent call last):
                ...
            ValueError: sizes differ: this network is (input 2, hidden 4), the nn.RNN is (input 2, hidden 3)
        """
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh" or not rnn.bias:
            raise ValueError(
                "load_from needs a one-layer, one-directional nn.RNN with tanh and biases, got "
                f"num_layers={rnn.num_layers}, bidirectional={rnn.bidirectional}, "
                f"nonlinearity={rnn.nonlinearity!r}, bias={rnn.bias}"
            )
        cell = self.cell
        if (rnn.input_size, rnn.hidden_size) != (cell.input_size, cell.hidden_size):
            raise ValueError(
                f"sizes differ: this network is (input {cell.input_size}, hidden {cell.hidden_size}), "
                f"the nn.RNN is (input {rnn.input_size}, hidden {rnn.hidden_size})"
            )
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(rnn, f"{name}_l0"))
        return self


def recurrent_layer(kind: str, input_size: int, hidden_size: int, **options: Any) -> nn.RNNBase:
    """`nn.RNN`, `nn.LSTM` or `nn.GRU` by name, always with `batch_first=True`.

    Args:
        kind: `"rnn"`, `"lstm"` or `"gru"`.
        input_size: Features per step.
        hidden_size: Size of the hidden state.
        **options: Passed on, e.g. `num_layers`.

    Returns:
        The layer.

    Raises:
        ValueError: If `kind` is not one of `RECURRENT_LAYERS`.

    Examples:
        >>> recurrent_layer("gru", 1, 8)
        GRU(1, 8, batch_first=True)
        >>> recurrent_layer("transformer", 1, 8)
        Traceback (most recent call last):
            ...
        ValueError: kind must be one of 'rnn', 'lstm', 'gru', got 'transformer'
    """
    if kind not in RECURRENT_LAYERS:
        names = ", ".join(repr(k) for k in RECURRENT_LAYERS)
        raise ValueError(f"kind must be one of {names}, got {kind!r}")
    return RECURRENT_LAYERS[kind](input_size, hidden_size, batch_first=True, **options)


class SequencePredictor(nn.Module):
    """A recurrent layer and a linear read-out that predict the next value at every step.

    Input (N, L, I) → recurrent layer → hidden states (N, L, H) → `nn.Linear(H, O)`
    at every step → predictions (N, L, O). Because the layer only reads the
    past, the prediction at step `t` depends on inputs `0 … t` only.

    Args:
        kind: `"rnn"` (tanh Elman network), `"lstm"` or `"gru"`.
        hidden_size: Size of the hidden state.
        input_size: Features per step (1 for a single series).
        output_size: Values predicted per step.

    Raises:
        ValueError: If `kind` is unknown.

    Examples:
        >>> model = SequencePredictor("lstm", hidden_size=8)
        >>> model(torch.zeros(4, 20, 1)).shape
        torch.Size([4, 20, 1])
        >>> sum(p.numel() for p in model.parameters())  # 4·(8·1 + 8·8 + 2·8) + 8 + 1
        361
    """

    def __init__(self, kind: str, hidden_size: int, input_size: int = 1, output_size: int = 1) -> None:
        super().__init__()
        self.kind = kind
        self.rnn = recurrent_layer(kind, input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions shaped (N, L, output_size) for inputs shaped (N, L, input_size)."""
        hidden_states, _ = self.rnn(x)
        return self.readout(hidden_states)


class RNNClassifier(nn.Module):
    """Classify a sequence from a recurrent layer's last hidden state.

    Takes sequences laid out like a 1-D convnet's input, (N, C, L), so the
    two kinds of model train on the same data; it transposes them to
    (N, L, C) for the recurrent layer.

    Args:
        in_channels: Features per step, `C`.
        num_classes: Number of output scores.
        hidden_size: Size of the hidden state.
        kind: `"rnn"`, `"lstm"` or `"gru"`.

    Raises:
        ValueError: If `kind` is unknown, or (from `forward`) the input is
            not shaped (N, in_channels, L).

    Examples:
        >>> model = RNNClassifier(in_channels=6, num_classes=4, hidden_size=16)
        >>> model(torch.zeros(3, 6, 32)).shape
        torch.Size([3, 4])
    """

    def __init__(self, in_channels: int, num_classes: int, hidden_size: int = 32, kind: str = "gru") -> None:
        super().__init__()
        self.rnn = recurrent_layer(kind, in_channels, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits shaped (N, num_classes) for sequences shaped (N, C, L)."""
        if x.dim() != 3 or x.shape[1] != self.rnn.input_size:
            raise ValueError(
                f"RNNClassifier expects sequences shaped (N, {self.rnn.input_size}, L), got {tuple(x.shape)}"
            )
        hidden_states, _ = self.rnn(x.transpose(1, 2))
        return self.classifier(hidden_states[:, -1])


@dataclass
class LossHistory:
    """Mean loss per epoch of a regression run (`fit_regression`).

    Attributes:
        train_loss: Mean training loss over each epoch's batches.
        test_loss: Loss on the evaluation set after each epoch (empty without one).
    """

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)


def fit_regression(
    model: nn.Module,
    train_set: Dataset,
    *,
    epochs: int,
    test_set: Dataset | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> LossHistory:
    """Train a model to output its targets, with Adam and the mean squared error.

    `cnn_tutorial.training.fit` trains classifiers (cross-entropy on class
    labels, accuracy); this is the same loop for real-valued targets, such
    as the next values of a series. Batches are shuffled by a generator
    seeded with `seed`.

    Args:
        model: Maps a batch of inputs to a tensor shaped like the targets.
        train_set: Yields `(input, target)` pairs, e.g. from `next_step_pairs`.
        epochs: Passes over `train_set`.
        test_set: Evaluated (`regression_loss`) after every epoch when given.
        batch_size: Samples per optimisation step.
        lr: Adam's learning rate.
        seed: Seed of the shuffling.
        device: Where to train; `None` picks one with `pick_device`.

    Returns:
        The per-epoch `LossHistory`.

    Raises:
        ValueError: If `epochs` or `batch_size` is less than 1.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> x = torch.linspace(-1, 1, 64).unsqueeze(1)
        >>> data = TensorDataset(x, 3 * x + 1)
        >>> _ = torch.manual_seed(0)
        >>> line = nn.Linear(1, 1)
        >>> history = fit_regression(line, data, epochs=60, lr=0.1, batch_size=16, device="cpu")
        >>> history.train_loss[-1] < 1e-3, [round(p.item(), 2) for p in line.parameters()]
        (True, [3.0, 1.0])
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(
        train_set, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    history = LossHistory()
    for _ in range(epochs):
        model.train()
        total, seen = 0.0, 0
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            loss = F.mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(inputs)
            seen += len(inputs)
        history.train_loss.append(total / seen)
        if test_set is not None:
            history.test_loss.append(regression_loss(model, test_set, device=device))
    return history


@torch.no_grad()
def regression_loss(
    model: nn.Module, dataset: Dataset, batch_size: int = 256, device: str | torch.device | None = None
) -> float:
    """Mean squared error of `model` on `dataset`, averaged over every predicted value.

    Args:
        model: Maps inputs to predictions shaped like the targets.
        dataset: Yields `(input, target)` pairs.
        batch_size: Samples per forward pass (no effect on the result).
        device: Where to run; `None` uses the device the model is on.

    Returns:
        The mean squared error.

    Raises:
        ValueError: If `dataset` is empty.

    Examples:
        >>> from torch.utils.data import TensorDataset
        >>> data = TensorDataset(torch.zeros(5, 3), torch.full((5, 3), 2.0))
        >>> regression_loss(nn.Identity(), data)  # every prediction 0 is off by 2
        4.0
    """
    if len(dataset) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    model.eval()
    total, count = 0.0, 0
    for inputs, targets in DataLoader(dataset, batch_size=batch_size):
        inputs, targets = inputs.to(device), targets.to(device)
        total += F.mse_loss(model(inputs), targets, reduction="sum").item()
        count += targets.numel()
    return total / count


def jacobian_norm_by_distance(
    rnn: nn.Module, length: int, *, batch_size: int = 16, seed: int = 0
) -> torch.Tensor:
    """How strongly the last hidden state depends on the input `k` steps before it.

    Feeds random inputs `x_0 … x_{T}` (`T = length - 1`, standard normal,
    seeded) through `rnn` and measures, for every step `t`, the Frobenius
    norm of the Jacobian `∂h_T / ∂x_t`, averaged over the batch. Entry `k`
    of the result is for the distance `k = T - t`: entry 0 is the input of
    the last step itself. Backpropagation through time multiplies one
    Jacobian per step, so these norms show how the gradient that reaches
    step `t` shrinks (vanishes) or grows (explodes) with the distance.

    The gradients come from `torch.autograd.grad` with respect to the
    inputs, one backward pass per hidden unit; the parameters' `.grad` is
    left untouched.

    Args:
        rnn: `nn.RNN`, `nn.LSTM`, `nn.GRU` or `ElmanRNN` with
            `batch_first=True` (anything mapping (N, L, I) to
            `(outputs (N, L, H), state)`).
        length: Steps of the random input.
        batch_size: Random sequences averaged over.
        seed: Seed of the random inputs.

    Returns:
        A tensor shaped (length,): the mean norm at distance 0, 1, …, length - 1.

    Raises:
        ValueError: If `length` < 1, or `rnn` is not `batch_first`.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> norms = jacobian_norm_by_distance(nn.RNN(1, 16, batch_first=True), length=30)
        >>> norms.shape
        torch.Size([30])
        >>> bool(norms[20] < norms[0] / 1000)  # 20 steps back almost nothing arrives
        True
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if not getattr(rnn, "batch_first", True):
        raise ValueError("rnn must take batch-first input (N, L, I); build it with batch_first=True")
    input_size = rnn.input_size if hasattr(rnn, "input_size") else rnn.cell.input_size
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, length, input_size, generator=generator)
    x = x.to(next(rnn.parameters()).device).requires_grad_(True)
    outputs, _ = rnn(x)
    last = outputs[:, -1]  # h_T, shaped (N, H)
    squared = torch.zeros(batch_size, length, device=x.device)
    for unit in range(last.shape[1]):
        # Samples are independent, so the gradient of the sum over the batch
        # gives every sample's own row of the Jacobian at once.
        (grad,) = torch.autograd.grad(last[:, unit].sum(), x, retain_graph=True)
        squared += grad.pow(2).sum(dim=2)
    norms = squared.sqrt().mean(dim=0)  # index t = 0 … T
    return norms.flip(0).detach().cpu()  # index k = T - t

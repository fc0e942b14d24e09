"""The hand-written Elman network, the predictors and classifiers, and the gradient measurement."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from cnn_tutorial import count_parameters, fit, set_seed
from cnn_tutorial.recurrent import (
    ElmanCell,
    ElmanRNN,
    RNNClassifier,
    SequencePredictor,
    fit_regression,
    jacobian_norm_by_distance,
    recurrent_layer,
    regression_loss,
)
from cnn_tutorial.sequences import make_symbol_order, make_waves, next_step_pairs


# ---------------------------------------------------------------- Elman


@pytest.mark.parametrize("batch_first_input", [True, False])
def test_elman_matches_nn_rnn_with_the_same_weights(batch_first_input):
    set_seed(0)
    torch_rnn = nn.RNN(4, 6, batch_first=batch_first_input)
    ours = ElmanRNN(4, 6).load_from(torch_rnn)
    x = torch.randn(3, 9, 4)
    h0 = torch.randn(1, 3, 6)
    expected, expected_h = torch_rnn(x if batch_first_input else x.transpose(0, 1), h0)
    if not batch_first_input:
        expected = expected.transpose(0, 1)
    outputs, h_n = ours(x, h0)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(h_n, expected_h)


def test_elman_gradients_match_nn_rnn():
    set_seed(1)
    torch_rnn = nn.RNN(2, 5, batch_first=True)
    ours = ElmanRNN(2, 5).load_from(torch_rnn)
    x = torch.randn(4, 6, 2)
    torch_rnn(x)[0].square().sum().backward()
    ours(x)[0].square().sum().backward()
    torch.testing.assert_close(ours.cell.weight_hh.grad, torch_rnn.weight_hh_l0.grad)
    torch.testing.assert_close(ours.cell.weight_ih.grad, torch_rnn.weight_ih_l0.grad)


def test_elman_cell_is_the_formula():
    cell = ElmanCell(3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    expected = torch.tanh(cell.weight_ih @ x[0] + cell.bias_ih + cell.weight_hh @ h[0] + cell.bias_hh)
    torch.testing.assert_close(cell(x, h)[0], expected)


def test_elman_cell_initialisation_bound():
    cell = ElmanCell(10, 100)
    for p in cell.parameters():
        assert p.abs().max() <= 1 / 100**0.5


@pytest.mark.parametrize(
    "rnn",
    [
        nn.RNN(2, 3, num_layers=2),
        nn.RNN(2, 3, bidirectional=True),
        nn.RNN(2, 3, nonlinearity="relu"),
        nn.RNN(2, 3, bias=False),
    ],
)
def test_load_from_rejects_other_rnns(rnn):
    with pytest.raises(ValueError, match="one-layer"):
        ElmanRNN(2, 3).load_from(rnn)


def test_elman_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(N, L, 2\)"):
        ElmanRNN(2, 3)(torch.zeros(4, 5, 3))


# ---------------------------------------------------------------- layers, predictor, classifier


@pytest.mark.parametrize("kind, gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_parameter_count_formula(kind, gates):
    layer = recurrent_layer(kind, 7, 11)
    assert layer.batch_first
    assert count_parameters(layer) == gates * (11 * 7 + 11 * 11 + 2 * 11)


def test_predictor_is_causal():
    set_seed(0)
    model = SequencePredictor("gru", hidden_size=8)
    x = torch.randn(1, 20, 1)
    changed = x.clone()
    changed[:, 12:] = torch.randn(1, 8, 1)
    with torch.no_grad():
        assert torch.equal(model(x)[:, :12], model(changed)[:, :12])
        assert not torch.equal(model(x)[:, 12:], model(changed)[:, 12:])


def test_classifier_takes_conv_layout_and_validates():
    model = RNNClassifier(in_channels=6, num_classes=4, hidden_size=8, kind="lstm")
    assert model(torch.zeros(2, 6, 15)).shape == (2, 4)
    with pytest.raises(ValueError, match=r"\(N, 6, L\)"):
        model(torch.zeros(2, 15, 6))


def test_classifier_trains_with_fit_on_symbol_order():
    set_seed(0)
    model = RNNClassifier(6, 4, hidden_size=16)
    train, test = make_symbol_order(800, length=16, seed=0), make_symbol_order(200, length=16, seed=1)
    history = fit(model, train, epochs=3, test_set=test, batch_size=50, lr=1e-2, device="cpu", progress=False)
    assert history.test_accuracy[-1] > 0.9


# ---------------------------------------------------------------- regression


def test_fit_regression_beats_persistence_on_waves():
    set_seed(0)
    train = next_step_pairs(make_waves(200, 31, seed=0))
    test = next_step_pairs(make_waves(100, 31, seed=1))
    inputs, targets = test.tensors
    persistence = torch.mean((inputs - targets) ** 2).item()
    model = SequencePredictor("lstm", hidden_size=12)
    history = fit_regression(model, train, epochs=8, test_set=test, batch_size=25, lr=1e-2, device="cpu")
    assert history.epochs == 8 and len(history.test_loss) == 8
    assert history.test_loss[-1] < persistence / 2
    assert history.test_loss[-1] == pytest.approx(regression_loss(model, test))


def test_fit_regression_is_deterministic():
    data = TensorDataset(torch.randn(40, 3), torch.randn(40, 1))
    losses = []
    for _ in range(2):
        set_seed(0)
        losses.append(fit_regression(nn.Linear(3, 1), data, epochs=3, batch_size=8, device="cpu").train_loss)
    assert losses[0] == losses[1]


def test_fit_regression_and_loss_reject_bad_input():
    with pytest.raises(ValueError, match="epochs"):
        fit_regression(nn.Linear(1, 1), TensorDataset(torch.zeros(2, 1), torch.zeros(2, 1)), epochs=0)
    with pytest.raises(ValueError, match="empty"):
        regression_loss(nn.Linear(1, 1), TensorDataset(torch.zeros(0, 1), torch.zeros(0, 1)))


# ---------------------------------------------------------------- jacobian_norm_by_distance


def test_jacobian_norm_matches_full_jacobian():
    set_seed(0)
    rnn = nn.GRU(2, 3, batch_first=True)
    norms = jacobian_norm_by_distance(rnn, length=5, batch_size=4, seed=7)
    x = torch.randn(4, 5, 2, generator=torch.Generator().manual_seed(7))
    expected = torch.zeros(5)
    for sample in x:
        jac = torch.autograd.functional.jacobian(lambda s: rnn(s[None])[0][0, -1], sample)  # (H, L, I)
        expected += jac.pow(2).sum(dim=(0, 2)).sqrt().flip(0) / 4
    torch.testing.assert_close(norms, expected)


def test_jacobian_norm_leaves_parameter_gradients_alone():
    rnn = nn.RNN(1, 4, batch_first=True)
    jacobian_norm_by_distance(rnn, length=6)
    assert all(p.grad is None for p in rnn.parameters())


def test_vanishing_for_default_rnn_and_slower_with_forget_bias():
    set_seed(0)
    rnn = nn.RNN(1, 24, batch_first=True)
    lstm = nn.LSTM(1, 24, batch_first=True)
    with torch.no_grad():
        lstm.bias_ih_l0[24:48] = 1.0
        lstm.bias_hh_l0[24:48] = 0.0
    rnn_norms = jacobian_norm_by_distance(rnn, 40)
    lstm_norms = jacobian_norm_by_distance(lstm, 40)
    assert rnn_norms[39] < 1e-6 * rnn_norms[0]
    assert lstm_norms[39] > 1000 * rnn_norms[39]


def test_jacobian_norm_accepts_elman_and_rejects_time_major():
    assert jacobian_norm_by_distance(ElmanRNN(1, 3), length=4).shape == (4,)
    with pytest.raises(ValueError, match="batch_first"):
        jacobian_norm_by_distance(nn.RNN(1, 3), length=4)
    with pytest.raises(ValueError, match="length"):
        jacobian_norm_by_distance(nn.RNN(1, 3, batch_first=True), length=0)

"""Causal and dilated 1-D convolutions and the TCN classifier."""

import pytest
import torch
from torch import nn

from cnn_tutorial import fit, set_seed
from cnn_tutorial.sequences import make_symbol_order
from cnn_tutorial.tcn import CausalConv1d, TCNClassifier, causal_receptive_field, input_footprint


@pytest.mark.parametrize("kernel_size, dilation", [(2, 1), (3, 1), (3, 4), (5, 2)])
def test_causal_conv_keeps_length_and_never_looks_ahead(kernel_size, dilation):
    set_seed(0)
    conv = CausalConv1d(2, 3, kernel_size, dilation)
    x = torch.randn(1, 2, 30)
    assert conv(x).shape == (1, 3, 30)
    span = dilation * (kernel_size - 1)
    for t in range(30):
        seen = input_footprint(conv, x, t).nonzero().flatten().tolist()
        assert seen == [s for s in range(t - span, t + 1, dilation) if s >= 0]


def test_causal_conv_equals_conv1d_on_left_padded_input():
    set_seed(0)
    conv = CausalConv1d(2, 3, 3, dilation=2)
    plain = nn.Conv1d(2, 3, 3, dilation=2)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(4, 2, 16)
    padded = torch.cat([torch.zeros(4, 2, 4), x], dim=2)
    torch.testing.assert_close(conv(x), plain(padded))


@pytest.mark.parametrize(
    "kernel_size, dilations, expected",
    [(2, (1, 2, 4, 8, 16), 32), (2, (1,) * 5, 6), (3, (1, 2, 4, 8), 31), (5, (1, 3), 17)],
)
def test_receptive_field_formula_matches_measurement(kernel_size, dilations, expected):
    set_seed(0)
    stack = nn.Sequential(*[CausalConv1d(1, 1, kernel_size, d) for d in dilations])
    assert causal_receptive_field(stack) == expected
    seen = input_footprint(stack, torch.randn(1, 80), 79).nonzero().flatten()
    assert int(seen.max() - seen.min()) + 1 == expected


def test_receptive_field_rejects_strides():
    with pytest.raises(ValueError, match="stride"):
        causal_receptive_field([nn.Conv1d(1, 1, 3, stride=2)])


def test_footprint_validates():
    conv = CausalConv1d(1, 1, 2)
    with pytest.raises(ValueError, match=r"\(C, L\)"):
        input_footprint(conv, torch.zeros(2, 1, 5), 0)
    with pytest.raises(IndexError, match="outside"):
        input_footprint(conv, torch.zeros(1, 5), 5)
    with pytest.raises(ValueError, match="one output per time step"):
        input_footprint(nn.Conv1d(1, 1, 3), torch.zeros(1, 5), 0)


def test_tcn_features_are_causal_everywhere():
    set_seed(0)
    model = TCNClassifier(6, 4, channels=8, kernel_size=3, dilations=(1, 2, 4))
    assert model.receptive_field == 15
    x = torch.randn(6, 24)
    for t in range(24):
        seen = input_footprint(model.features, x, t)
        assert not seen[t + 1:].any()
        assert seen[t]  # the 1×1 embedding and the residual path pass the current step through
        assert not seen[: max(0, t - 14)].any()  # nothing beyond the receptive field


def test_tcn_validates():
    with pytest.raises(ValueError, match="dilation"):
        TCNClassifier(6, 4, dilations=())
    with pytest.raises(ValueError, match=r"\(N, 6, L\)"):
        TCNClassifier(6, 4)(torch.zeros(2, 32, 6))


def test_receptive_field_decides_the_symbol_order_task():
    # Length 16: markers at steps 1-4 and 8-10; a field of 5 steps sees neither.
    train, test = make_symbol_order(800, length=16, seed=0), make_symbol_order(200, length=16, seed=1)
    accuracy = {}
    for dilations in ((1, 2, 4, 8), (1, 1, 1, 1)):
        set_seed(0)
        model = TCNClassifier(6, 4, channels=16, kernel_size=2, dilations=dilations)
        history = fit(model, train, epochs=4, test_set=test, batch_size=50, lr=1e-2, device="cpu", progress=False)
        accuracy[dilations] = history.test_accuracy[-1]
    assert accuracy[(1, 2, 4, 8)] > 0.95
    assert accuracy[(1, 1, 1, 1)] < 0.35

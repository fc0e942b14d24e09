"""cnn_tutorial.blocks: MLP, ConvBlock and Residual."""

import pytest
import torch
from torch import nn

from cnn_tutorial.blocks import MLP, ConvBlock, Residual
from cnn_tutorial.runtime import set_seed

# MLP


def test_mlp_layers_follow_the_widths():
    model = MLP(64, hidden=(32, 16), out_features=10)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    linears = [layer for layer in model if isinstance(layer, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64, 32), (32, 16), (16, 10)]


def test_mlp_without_hidden_layers_is_a_linear_model():
    model = MLP(64, hidden=(), out_features=10)
    assert [type(layer).__name__ for layer in model] == ["Flatten", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 650


def test_mlp_dropout_follows_each_hidden_relu_and_only_acts_in_training():
    model = MLP(8, hidden=(16, 16), out_features=2, dropout=0.5)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    x = torch.randn(4, 8)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    set_seed(0)
    assert not torch.equal(model(x), model(x))


def test_mlp_accepts_images_and_vectors():
    model = MLP(64, hidden=(8,), out_features=3)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
    assert model(torch.zeros(2, 64)).shape == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(in_features=0), "every layer width must be >= 1"),
        (dict(in_features=4, hidden=(8, 0)), r"got \[4, 8, 0, 10\]"),
        (dict(in_features=4, dropout=1.0), r"dropout must be a probability in \[0, 1\), got 1.0"),
        (dict(in_features=4, dropout=-0.1), "dropout must be a probability"),
    ],
)
def test_mlp_rejects_bad_widths_and_dropout(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


# ConvBlock


def test_conv_block_halves_the_size_unless_pool_is_off():
    assert ConvBlock(3, 8)(torch.zeros(2, 3, 16, 16)).shape == (2, 8, 8, 8)
    assert ConvBlock(3, 8, pool=False)(torch.zeros(2, 3, 16, 16)).shape == (2, 8, 16, 16)


def test_conv_block_has_no_conv_bias_and_batch_norm_buffers():
    block = ConvBlock(1, 16)
    assert block.conv.bias is None
    assert sum(p.numel() for p in block.parameters()) == 16 * 9 + 2 * 16
    assert [name for name, _ in block.named_buffers()] == [
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]


def test_conv_block_output_is_non_negative_and_equals_its_layers():
    set_seed(0)
    block = ConvBlock(2, 4).eval()
    x = torch.randn(3, 2, 6, 6)
    expected = nn.functional.max_pool2d(torch.relu(block.bn(block.conv(x))), 2)
    out = block(x)
    assert torch.equal(out, expected)
    assert (out >= 0).all()


# Residual


def test_residual_adds_the_input_to_the_block_output():
    block = nn.Linear(3, 3)
    x = torch.randn(5, 3)
    assert torch.allclose(Residual(block)(x), x + block(x))


def test_residual_around_a_zero_block_is_the_identity_and_passes_gradients():
    zero = nn.Linear(4, 4)
    nn.init.zeros_(zero.weight)
    nn.init.zeros_(zero.bias)
    x = torch.randn(2, 4, requires_grad=True)
    out = Residual(zero)(x)
    assert torch.equal(out, x)
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_residual_rejects_a_block_that_changes_the_shape():
    with pytest.raises(ValueError, match=r"got \(2, 3\) in, \(2, 5\) out"):
        Residual(nn.Linear(3, 5))(torch.zeros(2, 3))

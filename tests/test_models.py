"""`SimpleCNN` is the seed's network, and the inspection helpers see it right."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_tutorial.arithmetic import conv_output_size, pool_output_size
from cnn_tutorial.inspection import (
    capture_activations,
    count_parameters,
    parameters_by_layer,
    trace_shapes,
)
from cnn_tutorial.models import SimpleCNN, check_input_shape


@pytest.fixture
def model():
    torch.manual_seed(0)
    return SimpleCNN()


@pytest.fixture
def batch():
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def layer_parameters(layer):
    return sum(p.numel() for p in layer.parameters())


def test_output_shape(model, batch):
    assert model(batch).shape == (4, 10)
    assert model(batch[:1]).shape == (1, 10)


def test_num_classes_sets_the_output_width(batch):
    model = SimpleCNN(num_classes=3)
    assert model(batch).shape == (4, 3)
    assert model.fc2.out_features == 3


def test_parameter_count_is_the_seeds(model):
    total = sum(p.numel() for p in model.parameters())
    assert total == 296_130  # the seed's architecture: 504 + 294,976 + 650
    assert count_parameters(model) == total
    model.fc2.weight.requires_grad_(False)  # frozen: counted in the total, not among the trainable ones
    assert count_parameters(model, trainable_only=True) == total - 640


def test_parameters_by_layer(model):
    rows = parameters_by_layer(model)
    assert [(name, count) for name, count, _ in rows] == [
        ("conv1", 504),
        ("fc1", 294_976),
        ("fc2", 650),
    ]
    for name, count, share in rows:
        assert count == layer_parameters(getattr(model, name))
        assert share == pytest.approx(count / 296_130)
    assert sum(share for *_, share in rows) == pytest.approx(1.0)


def test_count_parameters_trainable_only(model):
    for p in model.conv1.parameters():
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 296_130 - 504
    assert count_parameters(model) == 296_130


def test_layers_equal_the_seed(model):
    seed_layers = {
        "conv1": nn.Conv2d(3, 18, kernel_size=3, stride=1, padding=1),
        "pool": nn.MaxPool2d(kernel_size=2, stride=2, padding=0),
        "fc1": nn.Linear(4608, 64),
        "fc2": nn.Linear(64, 10),
    }
    for name, expected in seed_layers.items():
        layer = getattr(model, name)
        assert type(layer) is type(expected)
        assert repr(layer) == repr(expected)
        for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                     "dilation", "groups", "in_features", "out_features", "ceil_mode"):
            assert getattr(layer, attr, None) == getattr(expected, attr, None), (name, attr)
        assert (getattr(layer, "bias", None) is None) == (getattr(expected, "bias", None) is None)
    # The hidden width follows from the shape arithmetic, not a guess.
    side = pool_output_size(conv_output_size(32, 3, 1, 1), 2, 2)
    assert model.fc1.in_features == 18 * side * side


def test_forward_is_conv_relu_pool_flatten_fc_relu_fc(model, batch):
    """Recompute the forward pass with functional ops on the model's own weights."""
    x = F.conv2d(batch, model.conv1.weight, model.conv1.bias, stride=1, padding=1)
    x = F.max_pool2d(F.relu(x), kernel_size=2, stride=2)
    x = F.relu(F.linear(x.reshape(len(batch), -1), model.fc1.weight, model.fc1.bias))
    expected = F.linear(x, model.fc2.weight, model.fc2.bias)
    torch.testing.assert_close(model(batch), expected)


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 1, 32, 32), (2, 3, 28, 28), (2, 32, 32, 3)])
def test_wrong_shape_raises_value_error_naming_both_shapes(model, shape):
    with pytest.raises(ValueError) as info:
        model(torch.zeros(shape))
    message = str(info.value)
    assert "(N, 3, 32, 32)" in message
    assert str(shape) in message
    assert "SimpleCNN" in message


@pytest.mark.parametrize("bad", [[[0.0] * 32] * 32, None, "image"])
def test_non_tensor_raises_type_error(model, bad):
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(bad)


def test_numpy_array_is_not_silently_accepted(model):
    import numpy as np

    with pytest.raises(TypeError, match="ndarray"):
        model(np.zeros((1, 3, 32, 32), dtype=np.float32))


def test_check_input_shape_for_other_sample_shapes():
    check_input_shape(torch.zeros(5, 1, 8, 8), (1, 8, 8), "Net")
    with pytest.raises(ValueError, match=r"Net expects input of shape \(N, 1, 8, 8\), got \(5, 8, 8\)"):
        check_input_shape(torch.zeros(5, 8, 8), (1, 8, 8), "Net")


def test_trace_shapes(model, batch):
    trace = trace_shapes(model, batch)
    side = pool_output_size(conv_output_size(32, 3, 1, 1), 2, 2)
    assert trace == [
        ("input", (4, 3, 32, 32)),
        ("conv1", (4, 18, 32, 32)),
        ("pool", (4, 18, side, side)),
        ("flatten", (4, 18 * side * side)),
        ("fc1", (4, 64)),
        ("fc2", (4, 10)),
    ]
    # The last traced shape is the real output's.
    assert trace[-1][1] == tuple(model(batch).shape)


def test_trace_shapes_on_a_nested_model_lists_leaves_only():
    net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten())
    trace = trace_shapes(net, torch.zeros(2, 1, 5, 5))
    assert trace == [("input", (2, 1, 5, 5)), ("0.0", (2, 2, 3, 3)), ("0.1", (2, 2, 3, 3)), ("1", (2, 18))]


def all_hooks(model):
    return [h for m in model.modules() for h in m._forward_hooks.values()]


def test_capture_activations_values(model, batch):
    maps = capture_activations(model, batch, ["conv1", "pool", "fc2"])
    assert set(maps) == {"conv1", "pool", "fc2"}
    with torch.no_grad():
        conv = F.conv2d(batch, model.conv1.weight, model.conv1.bias, padding=1)
        torch.testing.assert_close(maps["conv1"], conv)  # before the (functional) ReLU
        torch.testing.assert_close(maps["pool"], F.max_pool2d(F.relu(conv), 2))
        torch.testing.assert_close(maps["fc2"], model(batch))
    assert not any(t.requires_grad for t in maps.values())
    assert all_hooks(model) == []  # no hook left behind


def bn_dropout_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(4 * 30 * 30, 2))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize(
    "look", [lambda net, x: trace_shapes(net, x), lambda net, x: capture_activations(net, x, ["1", "4"])],
    ids=["trace_shapes", "capture_activations"],
)
def test_looking_at_a_model_changes_nothing_in_it(batch, look, mode):
    net = bn_dropout_net().train(mode == "train")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    generator_before = torch.get_rng_state()
    look(net, batch)
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # batch norm's statistics too
    assert torch.equal(torch.get_rng_state(), generator_before)  # no dropout mask drawn
    assert net.training == (mode == "train") and all(m.training == net.training for m in net.modules())


def test_activations_are_those_of_the_model_predicting(batch):
    net = bn_dropout_net()
    maps = capture_activations(net, batch, ["1", "5"])
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(maps["5"], net(batch), rtol=0, atol=0)
        torch.testing.assert_close(maps["1"], net[1](net[0](batch)), rtol=0, atol=0)


def test_capture_activations_accepts_any_iterable(model, batch):
    maps = capture_activations(model, batch, (name for name in ["fc1"]))
    assert list(maps) == ["fc1"]
    assert maps["fc1"].shape == (4, 64)


@pytest.mark.parametrize("layers", [["conv2"], ["conv1", "nope"], [""]])
def test_capture_activations_unknown_layer(model, batch, layers):
    with pytest.raises(KeyError) as info:
        capture_activations(model, batch, layers)
    message = str(info.value)
    for name in ("conv1", "pool", "flatten", "fc1", "fc2"):
        assert name in message
    for name in layers:
        if name not in ("conv1",):
            assert repr(name) in message
    assert all_hooks(model) == []


def test_hooks_are_removed_even_when_forward_fails(model):
    with pytest.raises(ValueError):
        capture_activations(model, torch.zeros(1, 1, 32, 32), ["conv1"])
    with pytest.raises(ValueError):
        trace_shapes(model, torch.zeros(1, 1, 32, 32))
    assert all_hooks(model) == []


def test_gradients_reach_every_parameter(model, batch):
    labels = torch.arange(4)
    loss = F.cross_entropy(model(batch), labels)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_one_optimizer_step_lowers_the_loss_on_the_same_batch(model, batch):
    labels = torch.arange(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    before = F.cross_entropy(model(batch), labels)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = F.cross_entropy(model(batch), labels)
    assert after < before

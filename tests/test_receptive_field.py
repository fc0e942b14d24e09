"""`receptive_field` (the recurrence) against measurements and independent computations.

Three independent checks:

- gradients: backpropagating from one output neuron of the real layers'
  geometry marks exactly the input pixels inside the computed window;
- sets of offsets: the pixels a stack can reach, enumerated with plain
  Python sets from each layer's kernel taps, without the recurrence;
- published numbers: VGG-16's last pooling layer sees 212×212 pixels, with
  an effective stride of 32 and an effective padding of 90.
"""

import itertools

import pytest
import torch
from torch import nn

from cnn_tutorial.arithmetic import conv_output_size, pool_output_size
from cnn_tutorial.models import ConvNet
from cnn_tutorial.receptive_field import (
    ReceptiveField,
    gradient_footprint,
    layer_geometry,
    measure_receptive_field,
    receptive_field,
    receptive_field_steps,
)

# PyTorch warns that an even kernel with padding="same" may copy the input; that is fine here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

# Stacks whose receptive field has no holes: every pixel of the window is reachable.
SOLID = {
    "ConvNet(16, 32)": lambda: ConvNet(widths=(16, 32)).features,
    "ConvNet(8, 8, 8)": lambda: ConvNet(widths=(8, 8, 8)).features,
    "three 3x3": lambda: [nn.Conv2d(1, 1, 3) for _ in range(3)],
    "stride 2 + same": lambda: [
        nn.Conv2d(3, 4, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding="same"),
    ],
    "dilations 1, 2, 4": lambda: [nn.Conv2d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4)],
    "even same kernel": lambda: [nn.Conv2d(1, 1, 4, padding="same"), nn.Conv2d(1, 1, 3, stride=2)],
    "ResNet-like stem": lambda: [
        nn.Conv2d(3, 8, 7, stride=2, padding=3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(8, 8, 3, padding=1),
    ],
    "avg pool, dropout": lambda: [
        nn.Conv2d(1, 2, 3),
        nn.Dropout(0.5),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Conv2d(2, 1, 2),
    ],
    "nested sequential": lambda: nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2)), nn.Conv2d(1, 1, 3, stride=2)
    ),
}

# Stacks with holes: dilation (or a stride larger than the next kernel) skips pixels.
GAPPY = {
    "dilation 2": lambda: [nn.Conv2d(1, 1, 3, dilation=2)],
    "dilations 2, 2": lambda: [nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3, dilation=2, padding=2)],
    "1x1 stride 2, then 3x3": lambda: [nn.Conv2d(1, 1, 1, stride=2), nn.Conv2d(1, 1, 3)],
    "dilated max pool": lambda: [nn.Conv2d(1, 1, 3), nn.MaxPool2d(2, stride=1, dilation=3)],
}

SIZE = 40


def reachable(layers, index):
    """Input indices (one axis) that output neuron `index` can reach, by enumerating kernel taps.

    Walks back from the output: a neuron at position q of a layer's output
    reads positions q * s - p + d * t (t = 0..k-1) of that layer's input.
    Pure Python sets, no recurrence.
    """
    positions = {index}
    for layer in reversed(list(flatten(layers))):
        geometry = layer_geometry(layer)
        if geometry is None:
            continue
        k, s, p, d = geometry
        positions = {q * s - p + d * t for q in positions for t in range(k)}
    return positions


def flatten(layers):
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            yield from flatten(layer)
        else:
            yield layer


def output_side(layers, size):
    with torch.no_grad():
        x = torch.zeros(1, first_channels(layers), size, size)
        return nn.Sequential(*flatten(layers)).eval()(x).shape[-1]


def first_channels(layers):
    return next(layer.in_channels for layer in flatten(layers) if isinstance(layer, nn.Conv2d))


@pytest.mark.parametrize("name", SOLID)
def test_gradient_is_nonzero_exactly_over_the_computed_square(name):
    layers = SOLID[name]()
    rf = receptive_field(layers)
    side = output_side(layers, SIZE)
    x = torch.zeros(first_channels(layers), SIZE, SIZE)
    # Corner, border and interior neurons: the window is clipped to the input at the edges.
    for row, col in {(0, 0), (0, side - 1), (side // 2, side // 2), (side - 1, 1), (side - 1, side - 1)}:
        footprint = gradient_footprint(layers, x, (row, col))
        expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
        rows, cols = rf.window(row), rf.window(col)
        expected[max(rows.start, 0) : rows.stop, max(cols.start, 0) : cols.stop] = True
        assert torch.equal(footprint, expected), f"{name}: neuron {(row, col)}"


@pytest.mark.parametrize("name", {**SOLID, **GAPPY})
def test_gradient_footprint_is_the_set_of_reachable_pixels(name):
    layers = {**SOLID, **GAPPY}[name]()
    side = output_side(layers, SIZE)
    row, col = side // 2, side // 2 + 1
    footprint = gradient_footprint(layers, torch.zeros(first_channels(layers), SIZE, SIZE), (row, col))
    expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    for r, c in itertools.product(reachable(layers, row), reachable(layers, col)):
        if 0 <= r < SIZE and 0 <= c < SIZE:
            expected[r, c] = True
    assert torch.equal(footprint, expected)


@pytest.mark.parametrize("name", {**SOLID, **GAPPY})
def test_recurrence_matches_measurement_and_tap_enumeration(name):
    layers = {**SOLID, **GAPPY}[name]()
    rf = receptive_field(layers)
    assert measure_receptive_field(layers, input_size=64) == rf
    for index in (0, 1, 5):
        taps = reachable(layers, index)
        assert (min(taps), max(taps)) == (rf.window(index)[0], rf.window(index)[-1])


def test_holes_are_counted_in_the_size_but_not_touched():
    layers = GAPPY["dilations 2, 2"]()
    rf = receptive_field(layers)
    footprint = gradient_footprint(layers, torch.zeros(1, SIZE, SIZE), (10, 10))
    rows, cols = rf.window(10), rf.window(10)
    assert rf.size == 9
    assert footprint[rows.start : rows.stop, cols.start : cols.stop].sum() == 5 * 5  # every other pixel
    assert footprint.sum() == 25


def test_vgg16_matches_published_values():
    layers, channels = [], 3
    for repeats, width in [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]:
        for _ in range(repeats):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        layers.append(nn.MaxPool2d(2))
    assert receptive_field(layers) == ReceptiveField(size=212, jump=32, start=-90)
    conv5_3 = receptive_field(layers[:-1])
    assert (conv5_3.size, conv5_3.jump) == (196, 16)


def test_three_3x3_convolutions_see_as_far_as_one_7x7():
    assert receptive_field([nn.Conv2d(1, 1, 3) for _ in range(3)]).size == 7
    assert receptive_field([nn.Conv2d(1, 1, 7)]).size == 7


@pytest.mark.parametrize("k, s, p, d", list(itertools.product((1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2))))
def test_single_layer_windows_fit_the_padded_input_exactly(k, s, p, d):
    """The last neuron's window ends inside the padded input; one more would not fit."""
    size = 11
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
    out = conv_output_size(size, k, s, p, d)
    assert out == layer(torch.zeros(1, 1, size, size)).shape[-1]
    rf = receptive_field([layer])
    assert rf.window(0)[0] == -p
    assert rf.window(out - 1)[-1] <= size - 1 + p < rf.window(out)[-1]


def test_max_pool_ceil_mode_keeps_the_geometry():
    layers = [nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, stride=2, ceil_mode=True)]
    assert output_side(layers, 16) == pool_output_size(14, 3, 2, ceil_mode=True)
    assert receptive_field(layers) == ReceptiveField(5, 2, 0)
    assert measure_receptive_field(layers, input_size=24) == receptive_field(layers)


def test_real_layers_use_only_part_of_the_receptive_field():
    torch.manual_seed(0)
    features = ConvNet(widths=(8, 16)).features.eval()
    rf = receptive_field(features)
    x = torch.rand(3, 32, 32)
    with torch.no_grad():
        # The most active channel there: ReLU lets its gradient through.
        channel = int(features(x.unsqueeze(0))[0, :, 3, 4].argmax())
    footprint = gradient_footprint(features, x, (3, 4), channel=channel, linearize=False)
    inside = torch.zeros(32, 32, dtype=torch.bool)
    rows, cols = rf.window(3), rf.window(4)
    inside[rows.start : rows.stop, cols.start : cols.stop] = True
    assert footprint.any()
    assert not (footprint & ~inside).any()  # never outside the computed window
    assert footprint.sum() < inside.sum()  # max pooling sends gradient to one winner per window


def test_measuring_a_real_model_leaves_its_gradients_alone():
    features = ConvNet(widths=(4, 4)).features.eval()
    gradient_footprint(features, torch.rand(3, 16, 16), (1, 1), linearize=False)
    assert all(p.grad is None for p in features.parameters())


def test_steps_record_every_layer_and_pass_through_layers_change_nothing():
    stack = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout2d(), nn.MaxPool2d(2))
    steps = receptive_field_steps(stack)
    assert [type(layer) for layer, _ in steps] == [type(layer) for layer in stack]
    assert steps[0][1] == steps[1][1] == steps[2][1] == steps[3][1] == ReceptiveField(3, 1, 0)
    assert steps[4][1] == ReceptiveField(4, 2, 0)
    assert receptive_field([]) == ReceptiveField(1, 1, 0)


def test_rectangular_layers_need_an_axis():
    layers = [nn.Conv2d(1, 1, (1, 3), stride=(1, 2)), nn.MaxPool2d((2, 1))]
    assert receptive_field(layers, axis=0) == ReceptiveField(2, 2, 0)
    assert receptive_field(layers, axis=1) == ReceptiveField(3, 2, 0)
    assert measure_receptive_field(layers, 32, axis=0) == receptive_field(layers, axis=0)
    assert measure_receptive_field(layers, 32, axis=1) == receptive_field(layers, axis=1)
    with pytest.raises(ValueError, match="axis=0 or axis=1"):
        receptive_field(layers)
    with pytest.raises(ValueError, match="axis"):
        receptive_field(layers, axis=2)


@pytest.mark.parametrize(
    "layer", [nn.Linear(4, 4), nn.Flatten(), nn.AdaptiveAvgPool2d(1), nn.Upsample(scale_factor=2)]
)
def test_layers_that_change_geometry_otherwise_are_refused(layer):
    with pytest.raises(TypeError, match=type(layer).__name__):
        receptive_field([nn.Conv2d(1, 1, 3), layer])


def test_whole_convnet_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="features"):
        receptive_field(ConvNet())


def test_measurement_refuses_inputs_that_cut_the_field():
    layers = ConvNet(widths=(8, 8, 8)).features  # size 22
    with pytest.raises(ValueError, match="border"):
        measure_receptive_field(layers, input_size=22)
    with pytest.raises(ValueError, match="2×2"):
        measure_receptive_field(layers, input_size=12)


def test_position_outside_the_output_is_an_index_error():
    with pytest.raises(IndexError, match="outside"):
        gradient_footprint([nn.Conv2d(1, 1, 3)], torch.zeros(1, 8, 8), (6, 0))
    with pytest.raises(ValueError, match="shaped"):
        gradient_footprint([nn.Conv2d(1, 1, 3)], torch.zeros(2, 1, 8, 8), (0, 0))

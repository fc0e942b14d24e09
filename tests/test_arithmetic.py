"""`conv_output_size` and `pool_output_size` against PyTorch's own layers.

The expected sizes are never written by hand: each case builds the real
`nn.Conv2d` / `nn.MaxPool2d` / `nn.AvgPool2d`, runs a zero tensor through it
and reads the output's shape. Where PyTorch refuses a configuration (it raises
`RuntimeError`), our functions must refuse it too, with a `ValueError`.
"""

import itertools

import pytest
import torch
from torch import nn

from cnn_tutorial.arithmetic import conv_output_size, pool_output_size

SIZES = range(1, 13)
KERNELS = (1, 2, 3, 4, 5)
STRIDES = (1, 2, 3)
PADDINGS = (0, 1, 2, 3)
DILATIONS = (1, 2, 3)


def span(kernel_size, dilation):
    return dilation * (kernel_size - 1) + 1


def torch_size(layer, size):
    """Output width of `layer` on a 1×1×1×size input, or None if PyTorch rejects it."""
    with torch.no_grad():
        try:
            return layer(torch.zeros(1, 1, 1, size)).shape[-1]
        except RuntimeError:
            return None


def our_size(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except ValueError:
        return None


def compare(cases):
    """Run every case; return the ones where we and PyTorch disagree."""
    mismatches = []
    for label, make_layer, size, ours in cases:
        expected = torch_size(make_layer(), size)
        got = our_size(*ours)
        if got != expected:
            mismatches.append(f"{label}: torch={expected} ours={got}")
    return mismatches


@pytest.mark.parametrize("kernel_size", KERNELS)
def test_conv_output_size_matches_conv2d(kernel_size):
    cases = []
    for size, stride, padding, dilation in itertools.product(SIZES, STRIDES, PADDINGS, DILATIONS):
        # Kernel (1, k): only the width is convolved, the height stays 1.
        cases.append(
            (
                f"size={size} k={kernel_size} s={stride} p={padding} d={dilation}",
                lambda k=kernel_size, s=stride, p=padding, d=dilation: nn.Conv2d(
                    1, 1, (1, k), stride=(1, s), padding=(0, p), dilation=(1, d)
                ),
                size,
                (conv_output_size, size, kernel_size, stride, padding, dilation),
            )
        )
    mismatches = compare(cases)
    assert not mismatches, "\n".join(mismatches)
    # The sweep must exercise both outcomes, or it proves little.
    rejected = [c for c in cases if our_size(*c[3]) is None]
    assert 0 < len(rejected) < len(cases) or kernel_size == 1


def test_conv_rejections_are_exactly_windows_that_do_not_fit():
    for size, k, p, d in itertools.product(SIZES, KERNELS, PADDINGS, DILATIONS):
        fits = size + 2 * p >= span(k, d)
        if fits:
            assert conv_output_size(size, k, 1, p, d) >= 1
        else:
            with pytest.raises(ValueError, match="window"):
                conv_output_size(size, k, 1, p, d)
            assert torch_size(nn.Conv2d(1, 1, (1, k), padding=(0, p), dilation=(1, d)), size) is None


@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
@pytest.mark.parametrize("kernel_size", KERNELS)
def test_pool_output_size_matches_maxpool2d(kernel_size, ceil_mode):
    cases = []
    for size, stride, padding, dilation in itertools.product(SIZES, STRIDES, PADDINGS, DILATIONS):
        cases.append(
            (
                f"size={size} k={kernel_size} s={stride} p={padding} d={dilation} ceil={ceil_mode}",
                lambda k=kernel_size, s=stride, p=padding, d=dilation: nn.MaxPool2d(
                    (1, k), stride=(1, s), padding=(0, p), dilation=(1, d), ceil_mode=ceil_mode
                ),
                size,
                (pool_output_size, size, kernel_size, stride, padding, dilation, ceil_mode),
            )
        )
    mismatches = compare(cases)
    assert not mismatches, "\n".join(mismatches)
    assert len(cases) > 100


@pytest.mark.parametrize("ceil_mode", [False, True], ids=["floor", "ceil"])
def test_pool_output_size_matches_avgpool2d(ceil_mode):
    # AvgPool2d has no dilation: the formula applies with dilation=1.
    cases = []
    for size, k, stride, padding in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS):
        cases.append(
            (
                f"size={size} k={k} s={stride} p={padding} ceil={ceil_mode}",
                lambda k=k, s=stride, p=padding: nn.AvgPool2d(
                    (1, k), stride=(1, s), padding=(0, p), ceil_mode=ceil_mode
                ),
                size,
                (pool_output_size, size, k, stride, padding, 1, ceil_mode),
            )
        )
    mismatches = compare(cases)
    assert not mismatches, "\n".join(mismatches)


def test_ceil_mode_actually_differs_from_floor_somewhere():
    # Guards the sweep: if ceil_mode were ignored, some of these would fail.
    differing = [
        (size, k, s)
        for size, k, s in itertools.product(SIZES, KERNELS, STRIDES)
        if size >= k and pool_output_size(size, k, s, ceil_mode=True) != pool_output_size(size, k, s)
    ]
    assert differing
    for size, k, s in differing:
        assert pool_output_size(size, k, s, ceil_mode=True) == torch_size(
            nn.MaxPool2d((1, k), (1, s), ceil_mode=True), size
        )


def test_pool_stride_defaults_to_kernel_size_like_pytorch():
    for size, k in itertools.product(range(2, 20), (2, 3, 4)):
        if size < k:
            continue
        assert pool_output_size(size, k) == torch_size(nn.MaxPool2d((1, k)), size)
        assert pool_output_size(size, k) == pool_output_size(size, k, stride=k)


def test_pool_padding_limit_matches_pytorch():
    for k, p in itertools.product(KERNELS, range(0, 4)):
        torch_ok = torch_size(nn.MaxPool2d((1, k), (1, 1), (0, p)), 16) is not None
        if torch_ok:
            assert pool_output_size(16, k, 1, p) == torch_size(nn.MaxPool2d((1, k), (1, 1), (0, p)), 16)
        else:
            with pytest.raises(ValueError, match="padding"):
                pool_output_size(16, k, 1, p)


def test_height_and_width_are_independent():
    """A 2-D layer with different settings per axis: apply the 1-D function twice."""
    h_cfg = dict(kernel_size=3, stride=2, padding=1, dilation=2)
    w_cfg = dict(kernel_size=5, stride=1, padding=0, dilation=1)
    for h, w in itertools.product((7, 12, 31), (5, 9, 32)):
        conv = nn.Conv2d(
            1, 1, (3, 5), stride=(2, 1), padding=(1, 0), dilation=(2, 1)
        )
        with torch.no_grad():
            out = conv(torch.zeros(1, 1, h, w)).shape[-2:]
        assert tuple(out) == (conv_output_size(h, **h_cfg), conv_output_size(w, **w_cfg))


def test_seed_network_sizes():
    # The seed: Conv2d(3, 18, 3, 1, 1) keeps 32, MaxPool2d(2, 2) halves it.
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        after_conv = nn.Conv2d(3, 18, 3, 1, 1)(x)
        after_pool = nn.MaxPool2d(2, 2)(after_conv)
    assert conv_output_size(32, 3, 1, 1) == after_conv.shape[-1] == 32
    assert pool_output_size(32, 2, 2) == after_pool.shape[-1] == 16


@pytest.mark.parametrize("function", [conv_output_size, pool_output_size])
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(size=32, kernel_size=3, stride=0), "stride"),
        (dict(size=32, kernel_size=3, stride=-1), "stride"),
        (dict(size=32, kernel_size=0), "kernel_size"),
        (dict(size=0, kernel_size=3), "size"),
        (dict(size=32, kernel_size=3, dilation=0), "dilation"),
        (dict(size=32, kernel_size=3, padding=-1), "padding"),
        (dict(size=32.0, kernel_size=3), "size"),
        (dict(size=32, kernel_size=2.0), "kernel_size"),
        (dict(size=32, kernel_size=3, stride=1.5), "stride"),
        (dict(size=32, kernel_size=3, dilation=True), "dilation"),
        (dict(size="32", kernel_size=3), "size"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(function, kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b") as info:
        function(**kwargs)
    # The message shows the offending value.
    bad = kwargs[name]
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_pool_padding_over_half_the_kernel_is_rejected():
    with pytest.raises(ValueError, match="kernel_size // 2 = 1"):
        pool_output_size(32, kernel_size=3, padding=2)
    # PyTorch refuses it as well.
    assert torch_size(nn.MaxPool2d((1, 3), padding=(0, 2)), 32) is None


def test_window_too_large_message_gives_the_numbers():
    with pytest.raises(ValueError, match=r"spans 5 elements .* only 4") as info:
        conv_output_size(2, kernel_size=3, padding=1, dilation=2)
    assert "size=2" in str(info.value) and "padding=1" in str(info.value)


def test_ceil_mode_partial_window_larger_than_input():
    # e.g. the 3×3, stride-2, ceil-mode pooling of GoogLeNet/SqueezeNet on a 2×2 map.
    expected = torch_size(nn.MaxPool2d((1, 3), (1, 2), ceil_mode=True), 2)
    assert expected == 1
    assert pool_output_size(2, kernel_size=3, stride=2, ceil_mode=True) == expected


def test_non_int_padding_is_rejected():
    with pytest.raises(ValueError, match="padding"):
        conv_output_size(32, kernel_size=3, padding=1.5)

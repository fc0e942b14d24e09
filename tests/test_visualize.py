"""Visualisation methods: each compared with an independent computation or a known answer."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnn_tutorial.models import ConvNet  # noqa: E402
from cnn_tutorial.visualize import (  # noqa: E402
    bounding_box,
    filters,
    foreground_mask,
    grad_cam,
    maximize_activation,
    plot_heatmaps,
    saliency,
    share_inside,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def convnet():
    torch.manual_seed(0)
    return ConvNet(widths=(8, 16))


class TopLeftOnly(nn.Module):
    """A classifier that only looks at the top-left 10×12 corner of the image."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3 * 10 * 12, 4)

    def forward(self, x):
        return self.linear(x[:, :, :10, :12].flatten(1))


class ColorDetector(nn.Module):
    """Channel 0 fires on red pixels, channel 1 on green; class k = average of channel k.

    Class 2 has negative weight on both channels: no positive evidence anywhere.
    """

    def __init__(self):
        super().__init__()
        self.detect = nn.Conv2d(3, 2, kernel_size=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            self.detect.weight.copy_(torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]]).reshape(2, 3, 1, 1))
            self.detect.bias.zero_()
            self.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.flatten(self.pool(self.relu(self.detect(x)))))


def red_and_green_image():
    """Red 4×4 square at rows 2–5, cols 3–6; green 4×4 square at rows 20–23, cols 24–27."""
    image = torch.zeros(3, 32, 32)
    image[0, 2:6, 3:7] = 1.0
    image[1, 20:24, 24:28] = 1.0
    return image


# ----------------------------------------------------------------- filters


def test_filters_scale_each_kernel_to_unit_range_like_an_independent_formula():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, kernel_size=3)
    w = conv.weight.detach()
    expected = torch.stack([(k - k.min()) / (k.max() - k.min()) for k in w])
    shown = filters(conv)
    assert shown.shape == w.shape
    assert torch.allclose(shown, expected)
    assert torch.equal(shown.amin(dim=(1, 2, 3)), torch.zeros(5))
    assert torch.equal(shown.amax(dim=(1, 2, 3)), torch.ones(5))
    assert not shown.requires_grad


def test_filters_rejects_other_layers():
    with pytest.raises(TypeError, match="nn.Conv2d"):
        filters(nn.Linear(3, 3))


# ---------------------------------------------------------------- saliency


def test_saliency_is_zero_exactly_where_the_model_cannot_see():
    torch.manual_seed(0)
    model = TopLeftOnly()
    sal = saliency(model, torch.rand(3, 32, 32), target=2)
    assert sal.shape == (32, 32)
    seen = torch.zeros(32, 32, dtype=torch.bool)
    seen[:10, :12] = True
    assert torch.equal(sal[~seen], torch.zeros(int((~seen).sum())))
    assert (sal[seen] > 0).all()
    # The score is linear in the visible pixels: the gradient is the weight row.
    expected = model.linear.weight[2].detach().reshape(3, 10, 12).abs().amax(dim=0)
    assert torch.allclose(sal[:10, :12], expected)


def test_saliency_default_target_is_the_predicted_class():
    torch.manual_seed(1)
    model = TopLeftOnly()
    image = torch.rand(3, 32, 32)
    predicted = int(model(image.unsqueeze(0)).argmax())
    assert torch.equal(saliency(model, image), saliency(model, image, target=predicted))
    other = (predicted + 1) % 4
    assert not torch.equal(saliency(model, image), saliency(model, image, target=other))
    by_tensor = saliency(model, image, target=torch.tensor(other))  # a label straight from a data set
    assert torch.equal(by_tensor, saliency(model, image, target=other))


def test_saliency_uses_eval_mode_restores_the_mode_and_leaves_parameter_grads_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 8 * 8, 2))
    model.train()
    image = torch.rand(3, 8, 8)
    first, second = saliency(model, image, 0), saliency(model, image, 0)
    assert torch.equal(first, second)  # dropout off: deterministic
    assert model.training
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("bad", [torch.rand(1, 3, 32, 32), torch.rand(32, 32)])
def test_saliency_and_grad_cam_want_exactly_one_image(bad, convnet):
    with pytest.raises(ValueError, match=r"one image shaped \(C, H, W\)"):
        saliency(convnet, bad)
    with pytest.raises(ValueError, match=r"one image shaped \(C, H, W\)"):
        grad_cam(convnet, bad, "features.4")


@pytest.mark.parametrize("target", [10, -1, 2.5, "ring"])
def test_target_must_be_a_class_index(target, convnet):
    with pytest.raises(ValueError, match=r"class index in 0\.\.9"):
        saliency(convnet, torch.rand(3, 32, 32), target=target)
    with pytest.raises(ValueError, match=r"class index in 0\.\.9"):
        grad_cam(convnet, torch.rand(3, 32, 32), "features.4", target=target)


# ---------------------------------------------------------------- Grad-CAM


@pytest.mark.parametrize("layer", ["features.0", "features.1", "features.4", "features.5"])
def test_grad_cam_shape_and_range(layer, convnet):
    torch.manual_seed(3)
    for _ in range(3):
        cam = grad_cam(convnet, torch.rand(3, 32, 32), layer, target=int(torch.randint(10, ())))
        assert cam.shape == (32, 32)
        assert float(cam.min()) >= 0.0
        assert float(cam.max()) in (0.0, 1.0)
        assert not cam.requires_grad


def test_grad_cam_peaks_where_the_evidence_for_each_class_is():
    model, image = ColorDetector(), red_and_green_image()
    red = grad_cam(model, image, "relu", target=0)
    green = grad_cam(model, image, "relu", target=1)
    for cam, (rows, cols) in ((red, (range(2, 6), range(3, 7))), (green, (range(20, 24), range(24, 28)))):
        inside = torch.zeros(32, 32, dtype=torch.bool)
        inside[rows.start : rows.stop, cols.start : cols.stop] = True
        assert torch.all(cam[inside] == 1.0)
        assert torch.all(cam[~inside] == 0.0)
    # Class 2 counts both colors against itself: no positive evidence, an all-zero map.
    assert torch.equal(grad_cam(model, image, "relu", target=2), torch.zeros(32, 32))


def test_grad_cam_upsamples_a_coarse_layer_to_the_input_size():
    model = ColorDetector()
    model.pool = nn.Sequential(nn.MaxPool2d(4), nn.AdaptiveAvgPool2d(1))
    image = red_and_green_image()
    cam = grad_cam(model, image, "pool.0", target=1)  # an 8×8 map, one cell per 4×4 block
    assert cam.shape == (32, 32)
    peak = int(cam.argmax())
    assert peak // 32 in range(19, 25) and peak % 32 in range(23, 29)  # on the green square
    assert float(cam[:12, :12].max()) == 0.0  # nothing near the red one


def test_grad_cam_at_the_last_features_equals_class_activation_mapping(convnet):
    """With global average pooling and one linear layer, Grad-CAM is CAM (Zhou et al. 2016)."""
    torch.manual_seed(4)
    image = torch.rand(3, 32, 32)
    convnet.eval()
    with torch.no_grad():
        maps = convnet.features(image.unsqueeze(0))[0]  # (16, 8, 8)
    weights = convnet.classifier[-1].weight.detach()
    for target in range(10):
        cam = F.relu(torch.einsum("k,khw->hw", weights[target], maps))
        cam = F.interpolate(cam[None, None], size=(32, 32), mode="bilinear", align_corners=False)[0, 0]
        expected = cam / cam.max() if cam.max() > 0 else cam
        assert torch.allclose(grad_cam(convnet, image, "features", target=target), expected, atol=1e-6)


def test_grad_cam_rejects_unknown_layers_and_layers_without_feature_maps(convnet):
    with pytest.raises(KeyError, match="no layer named 'features.7'.*features.4"):
        grad_cam(convnet, torch.rand(3, 32, 32), "features.7")
    with pytest.raises(ValueError, match="feature maps"):
        grad_cam(convnet, torch.rand(3, 32, 32), "classifier.1")  # Flatten: (1, 16)
    unused = TopLeftOnly()
    unused.spare = nn.Conv2d(3, 3, 1)  # registered, never called in forward
    with pytest.raises(ValueError, match="did not run"):
        grad_cam(unused, torch.rand(3, 32, 32), "spare")


# -------------------------------------------------------- gradient ascent


def test_gradient_ascent_increases_the_activation_and_history_is_measured(convnet):
    found = maximize_activation(convnet, "features.3", [0, 3, 5], steps=30, lr=0.05)
    assert found.images.shape == (3, 3, 32, 32)
    assert found.history.shape == (31, 3)
    assert (found.history[-1] > found.history[0]).all()
    assert float(found.images.min()) >= 0.0 and float(found.images.max()) <= 1.0
    # The last row is the activation of the returned images, measured independently.
    convnet.eval()
    with torch.no_grad():
        maps = convnet.features[:4](found.images)
    measured = torch.stack([maps[i, c].mean() for i, c in enumerate([0, 3, 5])])
    assert torch.allclose(found.history[-1], measured, atol=1e-5)


def test_gradient_ascent_is_deterministic_and_images_do_not_interact(convnet):
    a = maximize_activation(convnet, "features.3", [0, 1], steps=10, seed=7)
    b = maximize_activation(convnet, "features.3", [0, 1], steps=10, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    c = maximize_activation(convnet, "features.3", [0, 1], steps=10, seed=8)
    assert not torch.equal(a.images, c.images)
    # Image 0 starts from the same noise in both runs; its neighbour changes nothing.
    d = maximize_activation(convnet, "features.3", [0, 2], steps=10, seed=7)
    assert torch.equal(a.images[0], d.images[0])


def test_gradient_ascent_restores_mode_and_leaves_parameter_grads_alone(convnet):
    convnet.train()
    maximize_activation(convnet, "features.0", 0, steps=3)
    assert convnet.training
    assert all(p.grad is None for p in convnet.parameters())


def test_gradient_ascent_on_one_linear_neuron_finds_the_sign_of_its_kernel():
    """For a single convolution, w·patch + b is maximised over [0, 1] by patch = (w > 0)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, kernel_size=3, padding=1)
    model = nn.Sequential(conv)
    found = maximize_activation(
        model, "0", [0, 1, 2, 3], steps=60, lr=0.05, shape=(3, 12, 12), position=(5, 6)
    )
    patch = found.images[:, :, 4:7, 5:8]
    assert torch.equal(patch > 0.5, conv.weight.detach() > 0)
    assert torch.allclose((patch - 0.5).abs(), torch.full_like(patch, 0.5))  # saturated at 0 or 1
    outside = found.images.clone()
    outside[:, :, 4:7, 5:8] = 0.5
    assert float((outside - 0.5).abs().max()) < 0.1  # only the receptive field moved far from grey


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layer": "features.8", "channel": 0}, KeyError, "no layer named 'features.8'"),
        ({"layer": "features.3", "channel": 16}, ValueError, "channel 16 is out of range.*16 channels"),
        ({"layer": "features.3", "channel": [0, -1]}, ValueError, "channel -1 is out of range"),
        ({"layer": "features.3", "channel": []}, ValueError, "at least one channel"),
        ({"layer": "features.3", "channel": 0, "steps": 0}, ValueError, "steps must be >= 1"),
        ({"layer": "features.3", "channel": 0, "position": (16, 0)}, ValueError, "outside the 16×16"),
        ({"layer": "classifier.1", "channel": 0}, ValueError, "feature maps"),
    ],
)
def test_gradient_ascent_rejects_bad_arguments(kwargs, error, message, convnet):
    with pytest.raises(error, match=message):
        maximize_activation(convnet, **kwargs)


# ------------------------------------------------------- checking the maps


def test_foreground_mask_recovers_a_shape_on_a_noisy_background():
    generator = torch.Generator().manual_seed(0)
    truth = torch.zeros(32, 32, dtype=torch.bool)
    truth[5:9, 4:25] = True  # a bar
    truth[20, 10:14] = True
    background, foreground = torch.tensor([0.2, 0.1, 0.3]), torch.tensor([0.6, 0.9, 0.7])
    clean = torch.where(truth, foreground[:, None, None], background[:, None, None])
    image = (clean + 0.08 * torch.randn(3, 32, 32, generator=generator)).clamp(0, 1)
    assert torch.equal(foreground_mask(image), truth)


def test_bounding_box_and_share_inside():
    mask = torch.zeros(6, 7, dtype=torch.bool)
    mask[1, 2] = mask[4, 5] = True
    box = bounding_box(mask)
    assert int(box.sum()) == 4 * 4 and box[1:5, 2:6].all()
    assert not bounding_box(torch.zeros(3, 3, dtype=torch.bool)).any()
    heat = torch.arange(42.0).reshape(6, 7)
    assert share_inside(heat, box) == pytest.approx(float(heat[1:5, 2:6].sum() / heat.sum()))
    assert share_inside(torch.zeros(6, 7), box) == 0.0
    assert share_inside(torch.ones(6, 7), torch.ones(6, 7, dtype=torch.bool)) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        share_inside(heat, box[:5])
    with pytest.raises(ValueError, match="non-negative"):
        share_inside(-heat, box)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        bounding_box(torch.zeros(1, 3, 3, dtype=torch.bool))


def test_plot_heatmaps_draws_one_panel_per_map_and_checks_shapes():
    image = torch.rand(3, 16, 16)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:8, 4:8] = True
    maps = {"显著图": torch.rand(16, 16), "Grad-CAM": torch.rand(16, 16)}
    fig = plot_heatmaps(image, maps, mask=mask, title="t")
    assert [ax.get_title() for ax in fig.axes] == ["图像 (image)", "显著图", "Grad-CAM"]
    assert fig._suptitle.get_text() == "t"
    with pytest.raises(ValueError, match="expected"):
        plot_heatmaps(image, {"a": torch.rand(8, 8)})
    grey = plot_heatmaps(torch.rand(1, 16, 16), {"a": torch.zeros(16, 16)})
    assert len(grey.axes) == 2

"""Figures: English labels, Chinese data rendered with a real font, and the panels are what they claim."""

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnn_tutorial.plotting import (  # noqa: E402
    CHINESE_FONT,
    plot_feature_maps,
    plot_history,
    show_images,
    use_chinese_font,
)
from cnn_tutorial.history import History  # noqa: E402

CHINESE = "卷积神经网络 池化 感受野"


@pytest.fixture(autouse=True)
def close_figures():
    plt.close("all")
    yield
    plt.close("all")


def glyph_warnings(fig):
    """Render `fig` to PNG and return the messages of the missing-glyph warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    return [str(w.message) for w in caught if "Glyph" in str(w.message) and "missing" in str(w.message)]


def chinese_figure(text=CHINESE):
    fig, ax = plt.subplots()
    ax.set_title(text)
    ax.set_xlabel("轮次")
    ax.plot([-2, -1, 0, 1], [-1.5, 0.5, -0.5, 1])  # negative tick labels: minus signs
    ax.legend([text])
    return fig


def test_the_check_detects_missing_glyphs():
    """Control: with a Latin-only font the same figure *does* warn, so the check works."""
    with matplotlib.rc_context({"font.sans-serif": ["DejaVu Sans"], "font.family": "sans-serif"}):
        messages = glyph_warnings(chinese_figure("受野池化 (control)"))
    assert any("missing" in m for m in messages)


def test_chinese_font_is_registered_and_first():
    assert matplotlib.rcParams["font.sans-serif"][0] == CHINESE_FONT
    assert CHINESE_FONT in {f.name for f in matplotlib.font_manager.fontManager.ttflist}
    path = matplotlib.font_manager.findfont(CHINESE_FONT, fallback_to_default=False)
    assert path.lower().endswith((".otf", ".ttf", ".ttc"))


def test_use_chinese_font_is_idempotent():
    assert use_chinese_font() == CHINESE_FONT
    assert use_chinese_font() == CHINESE_FONT
    families = matplotlib.rcParams["font.sans-serif"]
    assert families.count(CHINESE_FONT) == 1
    assert sum(f.name == CHINESE_FONT for f in matplotlib.font_manager.fontManager.ttflist) == 1


def test_chinese_text_renders_without_missing_glyphs():
    assert glyph_warnings(chinese_figure()) == []


def test_plot_history_renders_without_missing_glyphs():
    fig = plot_history(History([1.0, 0.5, 0.2], [0.6, 0.8, 0.9], [1.1, 0.7, 0.4], [0.55, 0.75, 0.85]))
    assert glyph_warnings(fig) == []
    # The labels are English in both editions of the site.
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "test"]


def test_plot_feature_maps_title_renders():
    fig = plot_feature_maps(torch.rand(4, 8, 8), title=CHINESE)
    assert fig._suptitle.get_text() == CHINESE
    assert glyph_warnings(fig) == []


def test_plot_history_plots_the_numbers():
    h = History([1.0, 0.5, 0.2], [0.6, 0.8, 0.9], [1.1, 0.7, 0.4], [0.55, 0.75, 0.85])
    loss_ax, acc_ax = plot_history(h).axes
    for ax, train, test in ((loss_ax, h.train_loss, h.test_loss), (acc_ax, h.train_accuracy, h.test_accuracy)):
        lines = ax.get_lines()
        assert len(lines) == 2
        assert list(lines[0].get_xdata()) == [1, 2, 3]
        assert list(lines[0].get_ydata()) == train
        assert list(lines[1].get_ydata()) == test
        assert len(ax.get_legend().get_texts()) == 2


def test_plot_history_without_test_curve():
    fig = plot_history(History([1.0, 0.5], [0.6, 0.8]))
    assert all(len(ax.get_lines()) == 1 for ax in fig.axes)
    assert glyph_warnings(fig) == []


@pytest.mark.parametrize(
    "shape", [(3, 32, 32), (4, 2, 8, 8), (4, 4, 8, 8), (2, 8, 8, 3), (1, 1, 1, 8, 8)]
)
def test_show_images_rejects_bad_shapes(shape):
    with pytest.raises(ValueError) as info:
        show_images(torch.rand(shape))
    assert str(shape) in str(info.value)
    assert plt.get_fignums() == []  # no half-built figure left open


def test_show_images_color_pixels_are_the_input():
    images = torch.rand(5, 3, 6, 7)
    fig = show_images(images, titles=["甲", "乙", "丙", "丁", "戊"], ncols=3)
    assert len(fig.axes) == 5
    for ax, image in zip(fig.axes, images):
        shown = np.asarray(ax.get_images()[0].get_array())
        assert shown.shape == (6, 7, 3)  # channels last for imshow
        np.testing.assert_allclose(shown, image.permute(1, 2, 0).numpy(), rtol=0, atol=1e-6)
    assert [ax.get_title() for ax in fig.axes] == ["甲", "乙", "丙", "丁", "戊"]
    assert glyph_warnings(fig) == []


def test_show_images_grey():
    images = torch.rand(3, 1, 8, 8)
    fig = show_images(images)
    assert len(fig.axes) == 3
    shown = fig.axes[0].get_images()[0]
    assert np.asarray(shown.get_array()).shape == (8, 8)
    assert shown.get_clim() == (0, 1)
    assert all(ax.get_title() == "" for ax in fig.axes)


@pytest.mark.parametrize("channels, ncols, rows", [(18, 6, 3), (7, 3, 3), (4, 10, 1), (1, 6, 1)])
def test_plot_feature_maps_one_axis_per_channel(channels, ncols, rows):
    maps = torch.rand(channels, 5, 5)
    fig = plot_feature_maps(maps, ncols=ncols)
    assert len(fig.axes) == channels
    assert [ax.get_title() for ax in fig.axes] == [str(c) for c in range(channels)]
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert grid.get_geometry() == (rows, min(ncols, channels))
    for ax, fmap in zip(fig.axes, maps):
        np.testing.assert_allclose(np.asarray(ax.get_images()[0].get_array()), fmap.numpy())


@pytest.mark.parametrize("shape", [(1, 18, 32, 32), (32, 32)])
def test_plot_feature_maps_rejects_batches(shape):
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plot_feature_maps(torch.rand(shape))

"""Figures for the chapters: training curves, sample images and feature maps.

中文：各章的图：训练曲线、样本图像与特征图。

Labels, titles and legends are English. Importing this module also registers
a Chinese font (Noto Sans CJK SC, shipped by the `mplfonts` package) with
matplotlib, so figures that show Chinese data (words of the corpus, glossary
terms) render on a fresh machine instead of as empty boxes.

Every function returns a `matplotlib.figure.Figure` made with pyplot: in a
notebook it is shown when the cell ends; in a script call `plt.show()` or
`fig.savefig(...)`.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.pyplot as plt
import torch
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:  # an annotation only: plotting does not depend on the training loop
    from cnn_tutorial.history import History

CHINESE_FONT = "Noto Sans CJK SC"


def use_chinese_font() -> str:
    """Register the bundled Chinese font with matplotlib and make it the default.

    Called once when this module is imported. Latin text keeps DejaVu Sans's
    shapes where the CJK font has none of its own.

    Returns:
        The font family name now first in `font.sans-serif`.

    Raises:
        FileNotFoundError: If the `mplfonts` package's font file is missing
            (reinstall the project's dependencies).

    Examples:
        >>> use_chinese_font()
        'Noto Sans CJK SC'
    """
    import mplfonts

    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.exists():
        raise FileNotFoundError(
            f"Chinese font not found at {path}; reinstall the dependencies (pip install mplfonts)"
        )
    if CHINESE_FONT not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(path))
    sans = [f for f in matplotlib.rcParams["font.sans-serif"] if f != CHINESE_FONT]
    matplotlib.rcParams["font.sans-serif"] = [CHINESE_FONT, *sans]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus
    return CHINESE_FONT


def plot_history(history: "History") -> Figure:
    """Loss and accuracy per epoch, training and test, side by side.

    Args:
        history: What `cnn_tutorial.training.fit` returned.

    Returns:
        A figure with two panels.

    Examples:
        >>> from cnn_tutorial.history import History
        >>> h = History([1.0, 0.5], [0.6, 0.8], [1.1, 0.7], [0.55, 0.75])
        >>> fig = plot_history(h)
        >>> [ax.get_title() for ax in fig.axes]
        ['loss', 'accuracy']
    """
    epochs = range(1, history.epochs + 1)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    for ax, train, test, title in (
        (loss_ax, history.train_loss, history.test_loss, "loss"),
        (acc_ax, history.train_accuracy, history.test_accuracy, "accuracy"),
    ):
        ax.plot(epochs, train, marker="o", label="train")
        if test:
            ax.plot(epochs, test, marker="o", label="test")
        ax.xaxis.get_major_locator().set_params(integer=True)
        finish_axes(ax, "epoch", title=title)
    return fig


def finish_axes(ax: Axes, xlabel: str, ylabel: str | None = None, title: str | None = None,
                legend_fontsize: float | None = None) -> None:
    """The house style of every curve plot: axis labels, a light grid, the legend and an optional title.

    Args:
        ax: The matplotlib `Axes` to finish.
        xlabel: Label of the x axis.
        ylabel: Label of the y axis, if any.
        title: Title, if any.
        legend_fontsize: Font size of the legend; `None` keeps matplotlib's default.

    Examples:
        >>> fig, ax = plt.subplots()
        >>> _ = ax.plot([1, 2], [3, 4], label="a")
        >>> finish_axes(ax, "epoch", "loss", title="t")
        >>> ax.get_xlabel(), ax.get_title(), ax.get_legend() is not None
        ('epoch', 't', True)
        >>> plt.close(fig)
    """
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_fontsize)
    if title:
        ax.set_title(title)


def log_size_axis(ax: Axes, sizes: Sequence[int]) -> None:
    """A logarithmic x axis whose ticks are exactly `sizes`, written as plain numbers (for curves against data size).

    Examples:
        >>> fig, ax = plt.subplots()
        >>> log_size_axis(ax, [10, 100, 1000])
        >>> ax.get_xscale(), [t.get_text() for t in ax.get_xticklabels()]
        ('log', ['10', '100', '1000'])
        >>> plt.close(fig)
    """
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [str(size) for size in sizes])
    ax.minorticks_off()


def show_images(images: torch.Tensor, titles: Sequence | None = None, ncols: int = 8) -> Figure:
    """A grid of images, grey (1 channel) or color (3 channels).

    Args:
        images: Tensor shaped (N, C, H, W) with values in [0, 1].
        titles: Optional N captions, one per image.
        ncols: Images per row.

    Returns:
        The figure.

    Raises:
        ValueError: If `images` is not (N, 1, H, W) or (N, 3, H, W).

    Examples:
        >>> fig = show_images(torch.rand(5, 3, 32, 32), titles=list("abcde"), ncols=5)
        >>> len(fig.axes)
        5
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"images must be shaped (N, 1, H, W) or (N, 3, H, W), got {tuple(images.shape)}"
        )
    fig, axes = _grid(len(images), ncols, cell=1.2)
    for i, (ax, image) in enumerate(zip(axes, images)):
        if image.shape[0] == 1:
            ax.imshow(image[0].detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
        else:
            ax.imshow(image.permute(1, 2, 0).detach().cpu().clamp(0, 1).numpy())
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    return fig


def plot_feature_maps(maps: torch.Tensor, ncols: int = 6, title: str | None = None) -> Figure:
    """Each channel of one feature map as a small heat map.

    Args:
        maps: One image's activations shaped (C, H, W), e.g. a layer's output
            for a single input (take `[0]` of a batch).
        ncols: Channels per row.
        title: Optional figure title.

    Returns:
        The figure, one panel per channel, titled with the channel index.

    Raises:
        ValueError: If `maps` is not three-dimensional.

    Examples:
        >>> fig = plot_feature_maps(torch.rand(18, 32, 32))
        >>> len(fig.axes), fig.axes[17].get_title()
        (18, '17')
    """
    if maps.dim() != 3:
        raise ValueError(f"maps must be shaped (C, H, W) for one image, got {tuple(maps.shape)}")
    fig, axes = _grid(len(maps), ncols, cell=1.1)
    for channel, (ax, fmap) in enumerate(zip(axes, maps)):
        ax.imshow(fmap.detach().cpu().numpy(), cmap="viridis")
        ax.set_title(str(channel), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _grid(count: int, ncols: int, cell: float):
    """A figure with `count` image panels (axes hidden) in rows of `ncols`."""
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell * ncols, cell * nrows + 0.3), squeeze=False, layout="constrained"
    )
    flat = list(axes.flat)
    for ax in flat:
        ax.set_axis_off()
    for ax in flat[count:]:
        fig.delaxes(ax)
    return fig, flat[:count]


use_chinese_font()

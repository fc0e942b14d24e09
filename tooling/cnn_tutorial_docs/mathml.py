"""Render math at build time as MathML, which browsers display natively.

`pymdownx.arithmatex` (generic mode) marks math in Markdown; this plugin
replaces each mark with MathML produced by `latex2mathml`. Pages therefore
load no math script at all, from a CDN or otherwise.

A page with math gets `math: true` in its metadata; `overrides/main.html`
then gives it the site's own math font (see `cnn_tutorial_docs.math_font`),
and pages without math load nothing more.
"""

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin

_INLINE = re.compile(r'<span class="arithmatex">\\\((.+?)\\\)</span>', re.DOTALL)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.+?)\\\]</div>', re.DOTALL)


def latex_to_mathml(tex: str, display: str) -> str:
    """MathML for one formula; `display` is "inline" or "block".

    Examples:
        >>> latex_to_mathml("x^2", "inline")[:35]
        '<math xmlns="http://www.w3.org/1998'
    """
    try:
        return convert(html.unescape(tex).strip(), display=display)
    except Exception as error:  # latex2mathml raises many types for bad input
        raise PluginError(f"cannot convert LaTeX {tex!r} to MathML: {error}") from error


class MathMLPlugin(BasePlugin):
    def on_page_content(self, content, page, config, files):
        content, blocks = _BLOCK.subn(lambda m: latex_to_mathml(m.group(1), "block"), content)
        content, inlines = _INLINE.subn(lambda m: latex_to_mathml(m.group(1), "inline"), content)
        if blocks or inlines:
            page.meta["math"] = True
        return content

"""Small fixes to Material's HTML, found by Lighthouse.

- The search overlay is a `role="dialog"` without a name; screen readers
  announce an anonymous dialog. Give it the search field's own label, which
  Material has already translated into the page's language.
- Material's script bundle is a plain `<script>` at the end of `<body>`,
  which blocks the first paint on slow phones. It reads only elements that
  precede it (the `__config` block stays before it), so `defer` is safe and
  lets the page paint first.
"""

import re

from mkdocs.plugins import BasePlugin

_DIALOG = '<div class="md-search" data-md-component="search" role="dialog">'
_SEARCH_LABEL = re.compile(r'class="md-search__input" name="query" aria-label="([^"]*)"')


def name_search_dialog(html: str) -> str:
    """Add `aria-label` to Material's search dialog, reusing the search field's label.

    Examples:
        >>> page = _DIALOG + '<input type="text" class="md-search__input" name="query" aria-label="搜索">'
        >>> name_search_dialog(page)[:80]
        '<div class="md-search" data-md-component="search" role="dialog" aria-label="搜索">'
    """
    label = _SEARCH_LABEL.search(html)
    if label is None or _DIALOG not in html:
        return html
    return html.replace(_DIALOG, _DIALOG[:-1] + f' aria-label="{label.group(1)}">', 1)


_BUNDLE = re.compile(r'<script src="([^"]*assets/javascripts/bundle\.[0-9a-f]+\.min\.js)"></script>')


def defer_bundle(html: str) -> str:
    """Load Material's script bundle with `defer`.

    Examples:
        >>> defer_bundle('<script src="../assets/javascripts/bundle.a5f9d56c.min.js"></script>')
        '<script src="../assets/javascripts/bundle.a5f9d56c.min.js" defer></script>'
    """
    return _BUNDLE.sub(r'<script src="\1" defer></script>', html)


class AccessibilityPlugin(BasePlugin):
    def on_post_page(self, output, page, config):
        return defer_bundle(name_search_dialog(output))

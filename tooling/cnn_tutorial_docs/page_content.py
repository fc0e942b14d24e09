"""Two attributes on the page content, for the reader's keyboard and for search.

The plugin marks the page content (the HTML that Markdown produced, before the
theme wraps it), never the theme's own markup.

Keyboard. Code cells, cell outputs, API signatures and display formulas keep
their lines intact and scroll inside themselves on a narrow screen. A reader
who cannot use a mouse or a touch screen scrolls them with the arrow keys,
which needs them to take keyboard focus (WCAG 2.1.1; axe-core's
`scrollable-region-focusable`). Material gives a code block `tabindex="0"`
when it sets the block up, but with `content.lazy` it does that only once the
block scrolls into view, too late for a reader who tabs through the page; a
block that turns out not to scroll loses the attribute again then.

Search. Every page fetches the search index as soon as it loads, so its size
is paid on every first visit, on a phone too. Code blocks and their outputs
were 40% of it; they are marked `data-search-exclude` (Material's search
plugin skips such elements). Prose, headings, inline `code` and the API
pages' headings, which name every function and class, stay searchable.
"""

import re

from mkdocs.plugins import BasePlugin, event_priority

# <pre ...><code ...>: pymdownx.highlight puts an empty <span></span> between them.
_CODE = re.compile(r"(<pre\b[^>]*>(?:<span></span>)?<code\b)(?![^>]*\btabindex=)")
_BLOCK_MATH = re.compile(r'(<math\b[^>]*\bdisplay="block")(?![^>]*\btabindex=)')
_PRE = re.compile(r"<pre\b(?![^>]*\bdata-search-exclude)")


def make_scrollables_focusable(content: str) -> str:
    """`tabindex="0"` on every `<pre><code>` and every display formula.

    Examples:
        >>> make_scrollables_focusable('<pre class="x"><span></span><code>a = 1</code></pre>')
        '<pre class="x"><span></span><code tabindex="0">a = 1</code></pre>'
        >>> make_scrollables_focusable('<math display="block"><mi>x</mi></math>')
        '<math display="block" tabindex="0"><mi>x</mi></math>'
        >>> make_scrollables_focusable('<code>inline</code> <math display="inline"></math>')
        '<code>inline</code> <math display="inline"></math>'
    """
    content = _CODE.sub(r'\1 tabindex="0"', content)
    return _BLOCK_MATH.sub(r'\1 tabindex="0"', content)


def exclude_code_blocks_from_search(content: str) -> str:
    """`data-search-exclude` on every `<pre>` (code cells, outputs, signatures); inline code stays.

    Examples:
        >>> exclude_code_blocks_from_search('<p>Use <code>fit</code>:</p><pre class="nb-output"><code>1</code></pre>')
        '<p>Use <code>fit</code>:</p><pre data-search-exclude class="nb-output"><code>1</code></pre>'
    """
    return _PRE.sub("<pre data-search-exclude", content)


class PageContentPlugin(BasePlugin):
    @event_priority(-50)  # after cnn-tutorial-mathml (priority 0) has turned TeX into <math>
    def on_page_content(self, content, page, config, files):
        return exclude_code_blocks_from_search(make_scrollables_focusable(content))

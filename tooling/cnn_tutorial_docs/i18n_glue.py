"""Make mkdocs-static-i18n, mkdocstrings and Material work together.

- mkdocstrings picks its locale (section titles such as "Parameters"/"参数")
  in `on_config`, before the i18n plugin switches language, so every
  language would get the first one's. This plugin runs first and sets it.
- Material turns every `<link rel="alternate" hreflang=…>` in `<head>` into a
  fetch of `<link>/sitemap.xml`, expecting links to language roots. The i18n
  plugin makes them links to the same page in the other language (which the
  header's language switch uses, and keeps), so every page load fetched two
  missing sitemaps and logged 404s. This plugin drops those head links.
"""

import re

from mkdocs.plugins import BasePlugin, event_priority

_HEAD_ALTERNATE = re.compile(r'[ \t]*<link rel="alternate" href="[^"]*" hreflang="[^"]*">\n?')


def drop_head_alternates(html: str) -> str:
    """Remove hreflang alternate links from the `<head>` of a page only.

    Examples:
        >>> page = '<head>\\n<link rel="alternate" href="../en/" hreflang="en">\\n</head><body>x</body>'
        >>> drop_head_alternates(page)
        '<head>\\n</head><body>x</body>'
    """
    head_end = html.find("</head>")
    if head_end < 0:
        return html
    return _HEAD_ALTERNATE.sub("", html[:head_end]) + html[head_end:]


class I18nGluePlugin(BasePlugin):
    @event_priority(100)
    def on_config(self, config):
        i18n = config.plugins.get("i18n")
        mkdocstrings = config.plugins.get("mkdocstrings")
        if i18n is not None and mkdocstrings is not None:
            mkdocstrings.config["locale"] = i18n.current_language or i18n.default_language
        return config

    def on_post_page(self, output, page, config):
        return drop_head_alternates(output)

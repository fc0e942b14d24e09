"""Make mkdocs-static-i18n and mkdocstrings work together.

mkdocstrings picks its locale (section titles such as "Parameters"/"参数") in
`on_config`, before the i18n plugin switches language, so every language
would get the first one's. This plugin runs first and sets it.
"""

from mkdocs.plugins import BasePlugin, event_priority


class I18nGluePlugin(BasePlugin):
    @event_priority(100)
    def on_config(self, config):
        i18n = config.plugins.get("i18n")
        mkdocstrings = config.plugins.get("mkdocstrings")
        if i18n is not None and mkdocstrings is not None:
            mkdocstrings.config["locale"] = i18n.current_language or i18n.default_language
        return config

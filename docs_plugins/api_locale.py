"""Give mkdocstrings the language of the build mkdocs-static-i18n is running.

mkdocstrings picks its locale (section titles such as "Parameters"/"参数")
in `on_config`, before the i18n plugin switches language, so every language
would get the first one. This runs first and sets the right locale.
"""

from mkdocs.plugins import BasePlugin, event_priority


class ApiLocalePlugin(BasePlugin):
    @event_priority(100)
    def on_config(self, config):
        i18n = config.plugins.get("i18n")
        mkdocstrings = config.plugins.get("mkdocstrings")
        if i18n is None or mkdocstrings is None:
            return config
        language = i18n.current_language or i18n.default_language
        mkdocstrings.config["locale"] = language
        return config

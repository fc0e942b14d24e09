"""One setting for every link to the repository, and a wheel readers can install.

- Pages write `{{ repo_url }}`, `{{ issues_url }}` and `{{ wheel_url }}`
  (in prose or in shell examples); this plugin replaces them, so a fork or a
  published copy changes one setting (`extra.repository` in mkdocs.yml, from
  the `REPO_URL` environment variable) rather than every page.
- The build publishes a wheel of the tutorial's package (the package only,
  not the docs tooling) at `packages/<wheel>` on the site, so a downloaded
  notebook runs outside the repository after `pip install {{ wheel_url }}`.
  The wheel is built offline (`pip wheel --no-build-isolation`) from a copy
  of the sources, so two builds at once do not share a `build/` folder, and
  is cached until the package's files change.

The repository link is not Material's `repo_url`: that setting makes every
page fetch the repository's statistics from the hosting service, a request
to another host on every first visit.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout
from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority, get_plugin_logger
from mkdocs.structure.files import File

log = get_plugin_logger(__name__)

WHEEL_TIMEOUT = 300  # seconds for `pip wheel` (offline, no build isolation: it takes a few)
TOKEN = re.compile(r"\{\{\s*(repo_url|issues_url|wheel_url)\s*\}\}")


class SiteLinksConfig(Config):
    project = c.Type(str, default=".")
    """The folder (relative to mkdocs.yml) whose pyproject.toml builds the package's wheel."""
    sources = c.ListOfItems(c.Type(str), default=["cnn_tutorial", "pyproject.toml", "README.md"])
    """What the wheel is built from (relative to `project`); the wheel is rebuilt when one of them changes."""
    folder = c.Type(str, default="packages")
    """Where on the site the wheel is published."""
    cache_dir = c.Type(str, default=".cache/wheel")


def replace_tokens(markdown: str, values: dict[str, str]) -> str:
    """Replace the link tokens.

    Examples:
        >>> replace_tokens("clone {{ repo_url }} and file at {{issues_url}}",
        ...                {"repo_url": "https://x.org/r", "issues_url": "https://x.org/r/issues"})
        'clone https://x.org/r and file at https://x.org/r/issues'
    """
    return TOKEN.sub(lambda match: values[match.group(1)], markdown)


class SiteLinksPlugin(BasePlugin[SiteLinksConfig]):
    def on_config(self, config):
        self.root = Path(config.config_file_path).parent
        repository = str(config.extra.get("repository") or "").rstrip("/")
        if not repository:
            raise PluginError("cnn-tutorial-links: set extra.repository in mkdocs.yml (the repository's URL)")
        self.wheel = self.build_wheel(self.root)  # found again, not rebuilt, while the package is unchanged
        site_url = (config.site_url or "/").rstrip("/") + "/"
        self.values = {
            "repo_url": repository,
            "issues_url": repository + "/issues",
            "wheel_url": f"{site_url}{self.config.folder}/{self.wheel.name}",
        }
        return config

    def build_wheel(self, root: Path) -> Path:
        """The package's wheel, built once per content of its sources; `root` is mkdocs.yml's folder.

        Public: the notebooks plugin installs this wheel for its kernels (`use_published_wheel`).
        """
        project = root / self.config.project
        digest = hashlib.sha256()
        for name in self.config.sources:
            path = project / name
            paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in paths:
                if "__pycache__" in file.parts or file.suffix == ".pyc":
                    continue
                digest.update(file.relative_to(project).as_posix().encode())
                digest.update(file.read_bytes())
        folder = root / self.config.cache_dir / digest.hexdigest()[:20]
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(folder) + ".lock", timeout=300):
                return self._build_wheel_locked(project, folder)
        except Timeout:
            raise PluginError(
                f"cnn-tutorial-links: waited 300 s for another build to finish the package's wheel ({folder}.lock)"
            ) from None

    def _build_wheel_locked(self, project: Path, folder: Path) -> Path:
        existing = sorted(folder.glob("*.whl"))
        if existing:
            return existing[0]
        with tempfile.TemporaryDirectory(prefix="wheel-") as scratch:
            source = Path(scratch) / "src"
            source.mkdir()
            for name in self.config.sources:
                path = project / name
                if path.is_dir():
                    shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copy2(path, source / name)
            out = Path(scratch) / "out"
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                       "--disable-pip-version-check", "-w", str(out), str(source)]
            try:
                result = subprocess.run(command, capture_output=True, text=True, timeout=WHEEL_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise PluginError(
                    f"cnn-tutorial-links: building the package's wheel took more than {WHEEL_TIMEOUT} s"
                ) from None
            wheels = sorted(out.glob("*.whl"))
            if result.returncode != 0 or len(wheels) != 1:
                raise PluginError(f"cnn-tutorial-links: building the package's wheel failed:\n{result.stderr}")
            folder.mkdir(exist_ok=True)
            shutil.copy2(wheels[0], folder / wheels[0].name)
        log.info(f"Built {wheels[0].name}")
        return folder / wheels[0].name

    @event_priority(-120)  # after mkdocs-static-i18n has rebuilt the file list
    def on_files(self, files, config):
        i18n = config.plugins.get("i18n")
        if i18n is not None and not getattr(i18n, "is_default_language_build", True):
            return files  # one copy, at the site's root
        files.append(
            File.generated(config, f"{self.config.folder}/{self.wheel.name}", abs_src_path=str(self.wheel))
        )
        return files

    @event_priority(-50)  # after the notebooks plugin has rendered a chapter (its note has a token)
    def on_page_markdown(self, markdown, page, config, files):
        return replace_tokens(markdown, self.values)

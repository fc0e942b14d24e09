"""Execute the chapter notebooks while MkDocs builds, and render them as pages.

Why not mkdocs-jupyter: it caches by notebook bytes (an edit to the imported
package leaves stale outputs), does not render notebooks under
mkdocs-static-i18n, breaks anchors of Chinese headings, inlines ~575 KB of
JupyterLab CSS per page and executes each language separately. This plugin:

- executes each notebook with nbclient and fails the build on an error
  (unless `allow_errors: true`);
- caches outputs under `cache_dir`, keyed by the code cells *without
  comments*, the source of the watched packages, the kernel setup and the
  versions of key libraries: the Chinese and English chapters, whose code
  differs only in comments, execute once; editing the package re-executes;
- executes the notebooks that need it in parallel, once per build;
- renders cells as ordinary Markdown (so Material's code copy buttons,
  palette, search and table of contents just work) and figures as separate
  image files next to the page;
- writes the executed `.ipynb` next to each page for readers to download;
- publishes the files a notebook writes into its working directory (a
  trained model, say) next to its page, cached like any output.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import nbformat
from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority, get_plugin_logger

from cnn_tutorial_docs.notebook_source import (
    code_cells,
    code_without_comments,
    is_notebook_source,
    read_notebook,
)

log = get_plugin_logger(__name__)

CACHE_FORMAT = 1
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Libraries whose version can change a chapter's numbers or figures.
_VERSIONED = ("torch", "numpy", "scikit-learn", "matplotlib", "ipykernel", "matplotlib-inline")


class NotebooksConfig(Config):
    allow_errors = c.Type(bool, default=False)
    """Render a raising cell's traceback instead of failing the build."""
    timeout = c.Type(int, default=600)
    """Seconds one cell may run."""
    cache_dir = c.Type(str, default=".cache/notebooks")
    """Where executed outputs are kept, relative to mkdocs.yml."""
    workers = c.Type(int, default=2)
    """Notebooks executed at the same time."""
    packages = c.ListOfItems(c.Type(str), default=[])
    """Source folders (relative to mkdocs.yml) the notebooks import: their content is part of the cache key."""
    setup_code = c.Type(str, default="")
    """Code run, unseen, before each notebook (display settings only: it is not part of the page)."""
    kernel_name = c.Type(str, default="python3")


@dataclass
class Execution:
    """The outputs of one notebook's code cells, as cached."""

    outputs: list[list[dict]]
    seconds: float
    versions: dict[str, str]
    source: str = ""  # the page that was executed (for reports; any page with the same key shares it)
    files: dict[str, str] | None = None  # name -> base64 of what the notebook wrote into its folder


class NotebooksPlugin(BasePlugin[NotebooksConfig]):
    def on_config(self, config):
        self.root = Path(config.config_file_path).parent
        self.cache_dir = self.root / self.config.cache_dir
        self.executions: dict[str, Execution] = {}
        return config

    @event_priority(50)  # before mkdocs-static-i18n rebuilds the file list
    def on_files(self, files, config):
        self.notebooks: dict[str, nbformat.NotebookNode] = {}
        for file in files.documentation_pages():
            text = file.content_string
            if is_notebook_source(text):
                self.notebooks[file.src_uri] = read_notebook(text)
        self.execute_all()
        return files

    def execute_all(self) -> None:
        """Execute every notebook whose outputs are not cached, in parallel."""
        self.environment = self._environment_fingerprint()
        pending: dict[str, tuple[str, nbformat.NotebookNode]] = {}
        for src_uri, notebook in self.notebooks.items():
            key = self.cache_key(notebook)
            if key in self.executions or key in pending:
                continue
            cached = self._load(key)
            if cached is not None:
                self.executions[key] = cached
            else:
                pending[key] = (src_uri, notebook)
        if not pending:
            return
        log.info(f"Executing {len(pending)} notebook(s): {', '.join(s for s, _ in pending.values())}")
        errors = []
        with ThreadPoolExecutor(max_workers=max(1, self.config.workers)) as pool:
            futures = {
                key: pool.submit(self._execute, src_uri, notebook)
                for key, (src_uri, notebook) in pending.items()
            }
            for key, future in futures.items():
                try:
                    self.executions[key] = future.result()
                    self._store(key, self.executions[key])
                except PluginError as error:
                    errors.append(str(error))
        if errors:
            raise PluginError("\n\n".join(errors))

    def cache_key(self, notebook: nbformat.NotebookNode) -> str:
        """Same key for notebooks whose code differs only in comments."""
        payload = {
            "format": CACHE_FORMAT,
            "code": [code_without_comments(src) for src in code_cells(notebook)],
            "kernel": self.config.kernel_name,
            "setup": self.config.setup_code,
            "allow_errors": self.config.allow_errors,
            "environment": self.environment,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def _environment_fingerprint(self) -> dict:
        digest = hashlib.sha256()
        for folder in self.config.packages:
            for path in sorted((self.root / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    digest.update(path.relative_to(self.root).as_posix().encode())
                    digest.update(path.read_bytes())
        return {"packages": digest.hexdigest(), "versions": _versions()}

    def _execute(self, src_uri: str, notebook: nbformat.NotebookNode) -> Execution:
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        notebook = copy.deepcopy(notebook)
        if self.config.setup_code:
            notebook.cells.insert(0, nbformat.v4.new_code_cell(self.config.setup_code))
        notebook.metadata["kernelspec"] = {
            "name": self.config.kernel_name,
            "display_name": "Python 3",
            "language": "python",
        }
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="notebook-") as workdir:
            client = NotebookClient(
                notebook,
                timeout=self.config.timeout,
                kernel_name=self.config.kernel_name,
                allow_errors=self.config.allow_errors,
                resources={"metadata": {"path": workdir}},
            )
            try:
                client.execute(env=_kernel_env(self.config.workers))
            except CellExecutionError as error:
                raise PluginError(f"Notebook {src_uri} failed while building:\n{_strip_ansi(str(error))}")
            except Exception as error:  # kernel died, timeout, ...
                raise PluginError(f"Notebook {src_uri} could not be executed: {type(error).__name__}: {error}")
            files = _written_files(Path(workdir), src_uri)
        seconds = time.perf_counter() - started
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        if self.config.setup_code:
            cells = cells[1:]
        log.info(f"Executed {src_uri} in {seconds:.1f} s")
        return Execution([list(cell.outputs) for cell in cells], seconds, _versions(), src_uri, files)

    def _load(self, key: str) -> Execution | None:
        path = self.cache_dir / f"{key}.json"
        try:
            return Execution(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def _store(self, key: str, execution: Execution) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.cache_dir / f"{key}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(execution.__dict__), encoding="utf-8")
        temporary.replace(path)  # atomic: an interrupted build never leaves half a cache entry

    def execution_for(self, page) -> tuple[nbformat.NotebookNode, Execution] | None:
        notebook = self.notebooks.get(page.file.src_uri)
        if notebook is None:
            return None
        return notebook, self.executions[self.cache_key(notebook)]

    def on_page_markdown(self, markdown, page, config, files):
        found = self.execution_for(page)
        if found is None:
            return markdown
        notebook, execution = found
        page_dir = Path(config.site_dir) / Path(page.file.dest_path).parent
        renderer = _Renderer(page_dir)
        markdown = renderer.render(notebook, execution)
        for file_name, data in (execution.files or {}).items():
            renderer.write(file_name, base64.b64decode(data))
        executed = _executed_notebook(notebook, execution)
        name = Path(page.file.src_uri).stem + ".ipynb"
        renderer.write(name, nbformat.writes(executed).encode("utf-8"))
        language = str(config.theme.get("language") or "en")
        return _insert_after_title(markdown, _execution_note(language, name, execution))


class _Renderer:
    """Turns cells and outputs into Markdown; writes figures next to the page."""

    def __init__(self, page_dir: Path) -> None:
        self.page_dir = page_dir

    def write(self, name: str, data: bytes) -> None:
        self.page_dir.mkdir(parents=True, exist_ok=True)
        (self.page_dir / name).write_bytes(data)

    def render(self, notebook, execution: Execution) -> str:
        parts, outputs = [], iter(execution.outputs)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                parts.append(cell.source)
            elif cell.cell_type == "code":
                parts.append(f"``` python\n{cell.source}\n```")
                parts.extend(self.output(output) for output in next(outputs))
        return "\n\n".join(p for p in parts if p) + "\n"

    def output(self, output: dict) -> str:
        kind = output.get("output_type")
        if kind == "stream":
            css = "nb-output nb-stderr" if output.get("name") == "stderr" else "nb-output"
            return _text_block(_strip_ansi(output.get("text", "")), css)
        if kind == "error":
            return _text_block(_strip_ansi("\n".join(output.get("traceback", []))), "nb-output nb-error")
        data = output.get("data", {})
        if "image/png" in data:
            return self.image(base64.b64decode(data["image/png"]), "png", data.get("text/plain", ""))
        if "image/svg+xml" in data:
            return self.image(data["image/svg+xml"].encode("utf-8"), "svg", data.get("text/plain", ""))
        if "text/html" in data:
            return f'<div class="nb-output nb-html">\n{data["text/html"]}\n</div>'
        if "text/markdown" in data:
            return data["text/markdown"]
        if "text/plain" in data:
            return _text_block(_strip_ansi(data["text/plain"]), "nb-output")
        return ""

    def image(self, data: bytes, suffix: str, alt: str) -> str:
        name = f"figure-{hashlib.sha256(data).hexdigest()[:12]}.{suffix}"
        self.write(name, data)
        size = _png_size(data) if suffix == "png" else None
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        alt = html.escape(alt if alt and not alt.startswith("<Figure") else "figure", quote=True)
        return f'<div class="nb-output nb-figure"><img src="{name}" alt="{alt}"{dims} loading="lazy"></div>'


_NOTE = {
    "zh": (
        '<p class="nb-meta">本页代码在构建网站时执行：Python {python} · PyTorch {torch} · '
        '运行用时 {seconds:.1f} 秒 · <a href="{download}" download>下载 notebook（.ipynb，含输出）</a></p>'
    ),
    "en": (
        '<p class="nb-meta">The code on this page ran when the site was built: Python {python} · '
        'PyTorch {torch} · {seconds:.1f} s of execution · '
        '<a href="{download}" download>download the notebook (.ipynb, with outputs)</a></p>'
    ),
}


def _execution_note(language: str, download: str, execution: Execution) -> str:
    template = _NOTE.get(language.split("-")[0].split("_")[0], _NOTE["en"])
    versions = execution.versions
    return template.format(
        python=versions.get("python", "?"),
        torch=versions.get("torch", "?").split("+")[0],
        seconds=execution.seconds,
        download=html.escape(download, quote=True),
    )


def _insert_after_title(markdown: str, block: str) -> str:
    """Put `block` after the first level-1 heading, or at the top if there is none."""
    match = re.search(r"^# .*$", markdown, re.MULTILINE)
    if match is None:
        return f"{block}\n\n{markdown}"
    return f"{markdown[: match.end()]}\n\n{block}\n{markdown[match.end():]}"


MAX_PUBLISHED_BYTES = 2 * 1024 * 1024


def _written_files(folder: Path, src_uri: str) -> dict[str, str]:
    """The files a notebook left in its working folder, to publish next to its page."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.stat().st_size > MAX_PUBLISHED_BYTES:
            raise PluginError(
                f"Notebook {src_uri} wrote {path.name} ({path.stat().st_size:,} bytes); "
                f"files published with a page may be at most {MAX_PUBLISHED_BYTES:,} bytes"
            )
        files[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
    return files


def _text_block(text: str, css: str) -> str:
    text = text.rstrip("\n")
    if not text:
        return ""
    return f'<pre class="{css} no-copy"><code>{html.escape(text)}</code></pre>'


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _executed_notebook(notebook, execution: Execution) -> nbformat.NotebookNode:
    executed = copy.deepcopy(notebook)
    outputs = iter(execution.outputs)
    for cell in executed.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in next(outputs)]
    executed.metadata.pop("jupytext", None)
    executed.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return executed


def _kernel_env(workers: int) -> dict[str, str]:
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    env.setdefault("OMP_NUM_THREADS", threads)
    env.setdefault("CNN_TUTORIAL_DEVICE", "cpu")  # the same numbers on every build machine
    env["PYTHONHASHSEED"] = "0"
    env["TQDM_DISABLE"] = "1"
    return env


def _versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions

"""Execute the chapter notebooks while MkDocs builds, and render them as pages.

Why not mkdocs-jupyter: it caches by notebook bytes (an edit to the imported
package leaves stale outputs), does not render notebooks under
mkdocs-static-i18n, breaks anchors of Chinese headings, inlines ~575 KB of
JupyterLab CSS per page and executes each language separately. This plugin:

- executes the notebooks that need it with `execution.Executor` (fresh
  kernels, longest first, a precise cache, safe to interrupt or to run
  twice at once: see that module);
- renders cells as ordinary Markdown (so Material's code copy buttons,
  palette, search and table of contents just work); honours the cell tags
  `remove-cell`, `remove-input` and `remove-output`;
- registers figures, the executed `.ipynb` and the files a notebook wrote
  into its working folder as MkDocs generated files next to the page, so
  link validation checks them and `mkdocs serve` serves them;
- states under the title the versions the page ran with and how to install
  the package to run the downloaded notebook elsewhere.

Like Material's own plugins, it has an `enabled` switch (`enabled: !ENV
[NOTEBOOKS, true]` in mkdocs.yml lets a writer serve prose without executing
anything) and a `cache` switch (`false`: neither read nor fill the cache).
Under `mkdocs serve` the cache is not pruned (a rebuild sees only part of a
writer's work; `mkdocs build` prunes).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import posixpath
import re
from pathlib import Path

import nbformat
from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority, get_plugin_logger
from mkdocs.structure.files import File

from cnn_tutorial_docs.execution import (
    Execution,
    Executor,
    Job,
    NotebookError,
    Settings,
    default_kernel_env,
    strip_ansi,
)
from cnn_tutorial_docs.notebook_source import is_notebook_source, read_notebook

log = get_plugin_logger(__name__)


class NotebooksConfig(Config):
    enabled = c.Type(bool, default=True)
    """Execute and render notebooks; when false, chapter pages are plain Markdown (code without outputs)."""
    cache = c.Type(bool, default=True)
    """Reuse and store executions; when false, every build executes every notebook."""
    allow_errors = c.Type(bool, default=False)
    """Render a raising cell's traceback instead of failing the build."""
    timeout = c.Type(int, default=600)
    """Seconds one cell may run."""
    notebook_timeout = c.Type(int, default=300)
    """Seconds one notebook may run, all cells together."""
    cache_dir = c.Type(str, default=".cache/notebooks")
    """Where executed outputs are kept, relative to mkdocs.yml."""
    prune_days = c.Type(float, default=14.0)
    """Entries no page of a build used are deleted once unused for this many days."""
    workers = c.Type(int, default=2)
    """Notebooks executed at the same time."""
    packages = c.ListOfItems(c.Type(str), default=[])
    """Source folders (relative to mkdocs.yml) the notebooks import: a notebook depends on the modules it imported."""
    setup_code = c.Type(str, default="")
    """Code run, unseen, before each notebook (display settings only: it is not part of the page)."""
    kernel_env = c.Type(dict, default={})
    """Extra environment variables for the kernels (added to the defaults; part of the cache key)."""
    pass_env = c.ListOfItems(c.Type(str), default=[])
    """Variables kernels inherit from the build's environment (their values are part of the cache key).

    Nothing else is inherited but PATH, HOME, USER, LOGNAME and LD_LIBRARY_PATH."""
    install_page = c.Type(str, default="installation.md#install-the-package")
    """The page (in each language folder) that says how to install the package."""
    use_published_wheel = c.Type(bool, default=False)
    """Kernels import the watched packages from the wheel the site publishes (the `cnn-tutorial-links`
    plugin builds it), installed into a virtual environment of its own that reuses this one's
    third-party packages: what a reader who installed the wheel has. When false, from their folders."""


class NotebooksPlugin(BasePlugin[NotebooksConfig]):
    def on_startup(self, *, command, dirty):
        # a module-level flag: mkdocs-static-i18n builds each language with plugin instances of its own
        _STARTED["serve"] = command == "serve"

    def on_config(self, config):
        self.root = Path(config.config_file_path).parent
        self.executor = self.make_executor(config)
        self.executions: dict[str, Execution] = {}
        self.notebooks: dict[str, nbformat.NotebookNode] = {}
        return config

    def make_executor(self, config) -> Executor:
        """The executor this plugin uses, from its options (public: `run_page` uses it too)."""
        root = Path(config.config_file_path).parent
        options = self.config
        settings = Settings(
            root=root,
            cache_dir=root / options.cache_dir,
            packages=list(options.packages),
            setup_code=options.setup_code,
            allow_errors=options.allow_errors,
            cell_timeout=options.timeout,
            notebook_timeout=options.notebook_timeout,
            workers=max(1, options.workers),
            kernel_env={**default_kernel_env(options.workers), **{k: str(v) for k, v in options.kernel_env.items()}},
            pass_env=list(options.pass_env),
            prune_days=options.prune_days,
            cache=options.cache,
            wheel=self._published_wheel(config) if options.use_published_wheel else None,
        )
        return Executor(settings, log)

    @staticmethod
    def _published_wheel(config):
        """A function that builds (or finds) the wheel the site publishes, from the links plugin."""
        links = config.plugins.get("cnn-tutorial-links")
        if links is None:
            raise PluginError("cnn-tutorial-notebooks: use_published_wheel needs the cnn-tutorial-links plugin, "
                              "which builds the wheel; add it to mkdocs.yml's plugins or set use_published_wheel: false")
        root = Path(config.config_file_path).parent
        return lambda: links.build_wheel(root)

    @event_priority(50)  # before mkdocs-static-i18n rebuilds the file list
    def _execute_notebooks(self, files, config):
        self.notebooks = {}
        self.texts: dict[str, str] = {}
        if not self.config.enabled:
            return files
        for file in files.documentation_pages():
            text = file.content_string
            if is_notebook_source(text):
                self.notebooks[file.src_uri] = _read_notebook(text)
                self.texts[file.src_uri] = text
        self.execute_all()
        return files

    def execute_all(self) -> None:
        """Execute every notebook whose outputs are not cached."""
        self.executor.forget_file_hashes()
        environment = hashlib.sha256(json.dumps(self.executor._environment, sort_keys=True).encode()).hexdigest()
        self.keys = {}
        for src_uri, notebook in self.notebooks.items():
            memo = (hashlib.sha256(self.texts[src_uri].encode()).hexdigest(), environment)
            if memo not in _KEYS:
                _KEYS[memo] = self.executor.key(notebook)
            self.keys[src_uri] = _KEYS[memo]
        jobs: dict[str, Job] = {}
        for src_uri, notebook in self.notebooks.items():
            key = self.keys[src_uri]
            if key in jobs:
                jobs[key].pages[src_uri] = self.texts[src_uri]
                continue
            cached = self.executor.lookup(key, src_uri)
            if cached is not None:
                self.executions[key] = cached
                continue
            jobs[key] = Job(key, notebook, {src_uri: self.texts[src_uri]})
        if jobs:
            log.info(f"Executing {len(jobs)} notebook(s): {', '.join(job.name for job in jobs.values())}")
            try:
                self.executions.update(self.executor.run(list(jobs.values())))
            except NotebookError as error:
                raise PluginError(str(error)) from None
        if not _STARTED["serve"]:
            self.executor.prune()

    def execution_for(self, src_uri: str) -> tuple[nbformat.NotebookNode, Execution] | None:
        notebook = self.notebooks.get(src_uri)
        if notebook is None:
            return None
        return notebook, self.executions[self.keys[src_uri]]

    @event_priority(-110)  # after mkdocs-static-i18n has rebuilt the file list (generated files would not survive it)
    def _add_generated_files(self, files, config):
        """Figures, the executed notebook and written files become MkDocs files next to each page."""
        for page_file in list(files.documentation_pages()):
            found = self.execution_for(page_file.src_uri)
            if found is None:
                continue
            notebook, execution = found
            # not id(execution): under `mkdocs serve` a re-execution (same key, a dependency edited)
            # could reuse a freed object's id; its source and duration tell executions apart
            memo = (page_file.src_uri, self.keys[page_file.src_uri], execution.source, execution.seconds)
            if memo not in _PAGE_FILES:
                if len(_PAGE_FILES) > 500:
                    _PAGE_FILES.clear()
                _PAGE_FILES[memo] = _page_files(notebook, execution, page_file.src_uri)
            for name, data in _PAGE_FILES[memo].items():
                src_uri, dest_uri = _generated_paths(page_file, name)
                if files.get_file_from_path(src_uri) is None:
                    generated = File.generated(config, src_uri, content=data)
                    generated.dest_uri = dest_uri
                    files.append(generated)
        return files

    on_files = CombinedEvent(_execute_notebooks, _add_generated_files)

    def on_page_markdown(self, markdown, page, config, files):
        found = self.execution_for(page.file.src_uri)
        if found is None:
            return markdown
        notebook, execution = found
        # render the Markdown this event was given (an earlier plugin may have edited the prose),
        # as long as its code is the code that was executed
        given = _read_notebook(markdown)
        if [(c.source, _tags(c)) for c in given.cells if c.cell_type == "code"] != [
            (c.source, _tags(c)) for c in notebook.cells if c.cell_type == "code"
        ]:
            raise PluginError(f"{page.file.src_uri}: a plugin before cnn-tutorial-notebooks changed its code cells")
        folder = Path(page.file.src_uri).stem
        language = str(config.theme.get("language") or "en")
        install_page, _, anchor = self.config.install_page.partition("#")
        install_src = posixpath.join(_language_folder(page.file.src_uri), install_page)
        install = None
        if "cnn-tutorial-links" in config.plugins and files.get_file_from_path(install_src) is not None:
            install = posixpath.relpath(install_src, posixpath.dirname(page.file.src_uri) or ".")
            install += f"#{anchor}" if anchor else ""
        note = _execution_note(language, f"{folder}/{_notebook_name(page.file.src_uri)}", install, execution)
        return _Renderer(folder).render(given, execution, note)


# Kept for the life of the process: `mkdocs serve` rebuilds, and mkdocs-static-i18n builds each
# language, with new plugin instances; parsing ~50 notebooks and hashing their code each time cost seconds.
_NOTEBOOKS: dict[str, nbformat.NotebookNode] = {}
_KEYS: dict[tuple[str, str], str] = {}
_PAGE_FILES: dict[tuple, dict[str, bytes]] = {}
_STARTED = {"serve": False}  # set by on_startup


def _read_notebook(text: str) -> nbformat.NotebookNode:
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest not in _NOTEBOOKS:
        _NOTEBOOKS[digest] = read_notebook(text)
    return _NOTEBOOKS[digest]


def _language_folder(src_uri: str) -> str:
    first = src_uri.split("/")[0]
    return first if "/" in src_uri and re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", first) else ""


def _notebook_name(src_uri: str) -> str:
    return Path(src_uri).stem + ".ipynb"


def _generated_paths(page_file, name: str) -> tuple[str, str]:
    """Source and destination of a file published next to a page.

    The source sits in a folder named after the page (two pages of one
    folder may draw the same figure); the destination is the page's folder.

    Examples:
        >>> from types import SimpleNamespace
        >>> _generated_paths(SimpleNamespace(src_uri="zh/rnn.md", dest_uri="rnn/index.html"), "f.png")
        ('zh/rnn/f.png', 'rnn/f.png')
        >>> _generated_paths(SimpleNamespace(src_uri="en/index.md", dest_uri="en/index.html"), "f.png")
        ('en/index/f.png', 'en/f.png')
    """
    stem = Path(page_file.src_uri).stem
    src_dir = posixpath.dirname(page_file.src_uri)
    dest_dir = posixpath.dirname(page_file.dest_uri)
    return posixpath.join(src_dir, stem, name), posixpath.join(dest_dir, name)


def _page_files(notebook, execution: Execution, src_uri: str) -> dict[str, bytes]:
    files = {name: base64.b64decode(data) for name, data in (execution.files or {}).items()}
    for outputs, cell in zip(execution.outputs, [c for c in notebook.cells if c.cell_type == "code"]):
        if "remove-cell" in _tags(cell) or "remove-output" in _tags(cell):
            continue
        for output in outputs:
            figure = _figure(output)
            if figure is not None:
                files[figure[0]] = figure[1]
    executed = _executed_notebook(notebook, execution)
    files[_notebook_name(src_uri)] = nbformat.writes(executed).encode("utf-8")
    return files


_IMAGE_TYPES = (("image/png", "png"), ("image/jpeg", "jpg"), ("image/svg+xml", "svg"))


def _figure(output: dict) -> tuple[str, bytes] | None:
    data = output.get("data", {})
    for mime, suffix in _IMAGE_TYPES:
        if mime in data:
            raw = data[mime]
            content = raw.encode("utf-8") if suffix == "svg" else base64.b64decode(raw)
            return f"figure-{hashlib.sha256(content).hexdigest()[:12]}.{suffix}", content
    return None


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


class _Renderer:
    """Turns cells and outputs into Markdown; figures are linked from the page's folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def render(self, notebook, execution: Execution, note: str | None = None) -> str:
        """The page's Markdown; `note` goes after the title (the first level-1 heading of the prose
        before the first code cell), or at the top if there is no such heading."""
        parts, outputs = [], iter(execution.outputs)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                source = cell.source
                if note is not None:
                    placed = _insert_after_title(source, note)
                    if placed is not None:
                        source, note = placed, None
                parts.append(source)
            elif cell.cell_type == "code":
                if note is not None:
                    parts.insert(0, note)
                    note = None
                cell_outputs = next(outputs)
                tags = _tags(cell)
                if "remove-cell" in tags:
                    continue
                if "remove-input" not in tags:
                    parts.append(_fenced(cell.source))
                if "remove-output" not in tags:
                    parts.extend(self.output(output) for output in cell_outputs)
        if note is not None:
            parts.insert(0, note)
        return "\n\n".join(p for p in parts if p) + "\n"

    def output(self, output: dict) -> str:
        kind = output.get("output_type")
        if kind == "stream":
            css = "nb-output nb-stderr" if output.get("name") == "stderr" else "nb-output"
            return _text_block(strip_ansi(output.get("text", "")), css)
        if kind == "error":
            return _text_block(strip_ansi("\n".join(output.get("traceback", []))), "nb-output nb-error")
        data = output.get("data", {})
        figure = _figure(output)
        if figure is not None:
            return self.image(*figure, data.get("text/plain", ""))
        if "text/html" in data:
            return f'<div class="nb-output nb-html">\n{data["text/html"]}\n</div>'
        if "text/markdown" in data:
            return data["text/markdown"]
        if "text/latex" in data:
            return data["text/latex"]
        if "text/plain" in data:
            return _text_block(strip_ansi(data["text/plain"]), "nb-output")
        return ""

    def image(self, name: str, data: bytes, alt: str) -> str:
        size = _png_size(data) if name.endswith(".png") else None
        attributes = f' width="{size[0]}" height="{size[1]}"' if size else ""
        if not alt or alt.startswith("<Figure"):
            alt = "Figure"
        alt = re.sub(r"[\[\]\\`*_]", " ", alt).strip()
        return (
            f'<div class="nb-output nb-figure" markdown="1">\n\n'
            f'![{alt}]({self.folder}/{name}){{{attributes} loading="lazy" }}\n\n</div>'
        )


def _fenced(source: str) -> str:
    """A fence longer than any backtick run inside the code."""
    longest = max((len(run) for run in re.findall(r"`{3,}", source)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence} python\n{source}\n{fence}"


_NOTE = {
    "zh": (
        "本页代码在构建网站时执行：Python {python} · PyTorch {torch} · 运行用时 {seconds:.1f} 秒 · "
        "[下载 notebook（.ipynb，含输出）]({download}){{ download=\"{name}\" }}"
    ),
    "en": (
        "The code on this page ran when the site was built: Python {python} · PyTorch {torch} · "
        "{seconds:.1f} s of execution · [download the notebook (.ipynb, with outputs)]({download}){{ download=\"{name}\" }}"
    ),
}
_INSTALL = {
    "zh": " · 在本仓库之外运行前，先 `pip install {{{{ wheel_url }}}}`（见[安装]({install})）",
    "en": " · to run it outside this repository, first `pip install {{{{ wheel_url }}}}` (see [Installation]({install}))",
}


def _execution_note(language: str, download: str, install: str | None, execution: Execution) -> str:
    language = language.split("-")[0].split("_")[0]
    language = language if language in _NOTE else "en"
    versions = execution.versions
    note = _NOTE[language].format(
        python=versions.get("python", "?"),
        torch=versions.get("torch", "?").split("+")[0],
        seconds=execution.seconds,
        download=download,
        name=download.rsplit("/", 1)[-1],
    )
    if install is not None:
        note += _INSTALL[language].format(install=install)
    return note + "\n{: .nb-meta }"


def _insert_after_title(markdown: str, block: str) -> str | None:
    """`markdown` with `block` after its first level-1 heading outside code fences; None if it has none.

    Examples:
        >>> _insert_after_title("```\\n# a comment\\n```\\n# Title\\nText", "NOTE")
        '```\\n# a comment\\n```\\n# Title\\n\\nNOTE\\n\\nText'
        >>> _insert_after_title("## Section", "NOTE") is None
        True
    """
    lines, fence = markdown.split("\n"), None
    for number, line in enumerate(lines):
        match = re.match(r"\s{0,3}(`{3,}|~{3,})", line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) and not line.strip()[len(match.group(1)):].strip():
                fence = None
        elif re.match(r"# \S", line):
            return "\n".join([*lines[: number + 1], "", block, "", *lines[number + 1 :]])
    return None


def _text_block(text: str, css: str) -> str:
    text = text.rstrip("\n")
    if not text:
        return ""
    return f'<pre class="{css} no-copy"><code>{html.escape(text)}</code></pre>'


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _executed_notebook(notebook, execution: Execution) -> nbformat.NotebookNode:
    executed = nbformat.from_dict(nbformat.v4.new_notebook())
    executed.cells = [nbformat.from_dict(dict(cell)) for cell in notebook.cells]
    outputs = iter(execution.outputs)
    for cell in executed.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in next(outputs)]
            cell.execution_count = None
    executed.metadata = nbformat.from_dict(dict(notebook.metadata))
    executed.metadata.pop("jupytext", None)
    executed.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return executed

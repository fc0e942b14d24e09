"""Execute one chapter exactly as the site build does, without building the site.

    python -m cnn_tutorial_docs.run_page docs/zh/rnn.md            # print the outputs
    python -m cnn_tutorial_docs.run_page docs/zh/rnn.md --figures /tmp/rnn

Writing a chapter is quicker this way than with a full `mkdocs build`: the
notebook runs with the build's kernel settings (`setup_code`, threads,
`CNN_TUTORIAL_DEVICE=cpu`), its outputs go into the build's cache (so the next
build reuses them) and a failing cell is reported with its traceback and a
non-zero exit status.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import yaml
from mkdocs.exceptions import PluginError

from cnn_tutorial_docs.notebook_source import is_notebook_source, read_notebook
from cnn_tutorial_docs.notebooks import NotebooksPlugin

ROOT = Path.cwd()  # run from the repository root (make page does)


class _PermissiveLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, ignoring its `!!python/...` tags (the slugify function)."""


_PermissiveLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def notebooks_options(config_file: Path) -> dict:
    config = yaml.load(config_file.read_text(encoding="utf-8"), Loader=_PermissiveLoader)
    for entry in config.get("plugins", []):
        if isinstance(entry, dict) and "cnn-tutorial-notebooks" in entry:
            return entry["cnn-tutorial-notebooks"] or {}
    return {}


def load_plugin(config_file: Path = ROOT / "mkdocs.yml") -> NotebooksPlugin:
    plugin = NotebooksPlugin()
    errors, warnings = plugin.load_config(notebooks_options(config_file), str(config_file))
    if errors:
        raise SystemExit(f"{config_file}: bad notebooks options: {errors}")
    plugin.root = config_file.parent
    plugin.cache_dir = plugin.root / plugin.config.cache_dir
    plugin.executions = {}
    plugin.environment = plugin._environment_fingerprint()
    return plugin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnn_tutorial_docs.run_page", description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="a chapter written as a Jupytext Markdown notebook")
    parser.add_argument("--figures", type=Path, help="write the figures (PNG) into this folder")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the build cache")
    args = parser.parse_args(argv)

    text = args.page.read_text(encoding="utf-8")
    if not is_notebook_source(text):
        parser.error(f"{args.page} is not a notebook page (it needs the `jupyter:` front matter)")
    plugin = load_plugin()
    notebook = read_notebook(text)
    key = plugin.cache_key(notebook)
    execution = None if args.no_cache else plugin._load(key)
    if execution is None:
        try:
            execution = plugin._execute(str(args.page), notebook)
        except PluginError as error:
            print(error, file=sys.stderr)
            return 1
        if not args.no_cache:
            plugin._store(key, execution)
    else:
        print(f"(outputs from the build cache: executed {execution.seconds:.1f} s)")

    figure = 0
    for number, outputs in enumerate(execution.outputs, start=1):
        print(f"──── cell {number}")
        for output in outputs:
            data = output.get("data", {})
            if output.get("output_type") == "stream":
                print(output["text"], end="")
            elif "image/png" in data:
                figure += 1
                if args.figures:
                    args.figures.mkdir(parents=True, exist_ok=True)
                    path = args.figures / f"figure-{figure}.png"
                    path.write_bytes(base64.b64decode(data["image/png"]))
                    print(f"[figure {figure}: {path}]")
                else:
                    print(f"[figure {figure}]")
            elif "text/plain" in data:
                print(data["text/plain"])
    print(f"──── executed in {execution.seconds:.1f} s; wrote {sorted(execution.files or {}) or 'no files'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

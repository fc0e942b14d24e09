"""Execute one chapter exactly as the site build does, without building the site.

    make page PAGE=docs/zh/rnn.md                                # print the outputs
    python -m cnn_tutorial_docs.run_page docs/zh/rnn.md --figures /tmp/rnn

Writing a chapter is quicker this way than with a full `mkdocs build`: the
notebook runs with the build's executor and settings (read from mkdocs.yml by
MkDocs' own config loader), its outputs go into the build's cache (so the
next build reuses them) and a failing cell is reported with its Markdown line,
its traceback and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import base64
import logging
import sys
from pathlib import Path

from mkdocs.config import load_config

from cnn_tutorial_docs.execution import Job, NotebookError
from cnn_tutorial_docs.notebook_source import is_notebook_source, read_notebook

PLUGIN = "cnn-tutorial-notebooks"


def load_executor(config_file: Path = Path("mkdocs.yml")):
    """The build's executor, configured from `config_file` as MkDocs would."""
    config = load_config(str(config_file))
    plugin = config.plugins.get(PLUGIN)
    if plugin is None:
        raise SystemExit(f"{config_file}: the {PLUGIN} plugin is not configured")
    return plugin.make_executor(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnn_tutorial_docs.run_page", description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="a chapter written as a Jupytext Markdown notebook")
    parser.add_argument("--figures", type=Path, help="write the figures (PNG) into this folder")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor fill the build cache")
    parser.add_argument("--config-file", type=Path, default=Path("mkdocs.yml"), help="the site's mkdocs.yml")
    args = parser.parse_args(argv)

    text = args.page.read_text(encoding="utf-8")
    if not is_notebook_source(text):
        parser.error(f"{args.page} is not a notebook page (it needs the `jupyter:` front matter)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    executor = load_executor(args.config_file)
    notebook = read_notebook(text)
    job = Job(executor.key(notebook), notebook, {str(args.page): text})
    execution = None if args.no_cache else executor.lookup(job.key)
    try:
        if execution is not None:
            print(f"(outputs from the build cache: executed {execution.seconds:.1f} s)")
        elif args.no_cache:
            execution = executor.execute(job)
        else:
            execution = executor.run([job])[job.key]
    except NotebookError as error:
        print(error, file=sys.stderr)
        return 1

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

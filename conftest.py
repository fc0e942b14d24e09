"""Collect the `>>>` examples in the site's Markdown pages, one test per example.

Sybil's stock Python parser only runs blocks whose info string is exactly
`python`; this parser takes ```` ```pycon ```` and ```` ```python ```` blocks,
with or without attributes (`python title="x.py"`), whose code is written as
`>>>` examples. Plain ```` ```python ```` blocks in chapter notebooks are not
doctests: they run when the site builds.

Each Chinese page is collected here and only here (pytest's own
`--doctest-glob` is not used), so no example runs twice; an English page's
examples are the same as its Chinese twin's, which a test checks.
"""

import doctest
import re
from pathlib import Path

import matplotlib
import pytest

from sybil import Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract import DocTestStringParser
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

matplotlib.use("Agg")  # tests never open windows

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class PyconParser:
    def __init__(self) -> None:
        self.lexer = RawFencedCodeBlockLexer(
            info_pattern=re.compile(r"(?P<language>pycon|python)\b[^\n]*$\n", re.MULTILINE)
        )
        self.doctests = DocTestStringParser(DocTestEvaluator(OPTIONS))

    def __call__(self, document):
        for lexed in self.lexer(document):
            source = lexed.lexemes["source"]
            if not source.lstrip().startswith(">>>"):
                continue
            for region in self.doctests(source, document.path):
                region.adjust(lexed, source)
                yield region


# The Chinese pages only: the English pages' examples are the same, byte for byte, output included
# (tests/test_docs_parity.py), so each example runs once.
pytest_collect_file = Sybil(parsers=[PyconParser()], patterns=["docs/zh/*.md", "docs/zh/**/*.md"]).pytest()

# Put on chapter kernels' PYTHONPATH, never imported here: collected, it would be imported as the
# top-level module `sitecustomize`, which Debian's and Ubuntu's Pythons have already imported at
# start-up (collection then stops with ImportPathMismatchError).
collect_ignore_glob = ["tooling/cnn_tutorial_docs/child_imports/*"]


# ---------------------------------------------------------------- markers and one thread setting for the suite

# Every test gets one marker by where it lives, so `make test-fast` can leave out the
# whole-site build and the browser: `-m "not site and not browser and not slow"` (`slow`
# is set by hand on the plugin and distributed tests that start builds or process groups).
_MARKERS = {
    "test_site.py": "site",
    "test_wheel.py": "site",
    "test_determinism.py": "site",  # executes chapters twice: minutes, like the site build
    "test_browser.py": "browser",
    "test_explorer.py": "browser",
    "test_distributed.py": "distributed",
    "test_multinode.py": "distributed",
    "test_notebooks_plugin.py": "plugins",
    "test_api_pages.py": "plugins",
    "test_glossary.py": "plugins",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        marker = _MARKERS.get(path.name)
        if marker is None:
            marker = "plugins" if "tooling" in path.parts else "unit"
        item.add_marker(getattr(pytest.mark, marker))
    # The site builds in the background from the end of collection on, and the reader's journey
    # and the every-page check run in the background from the build on (tests/conftest.py): the
    # tests that need none of them go first, those that wait for a report last, so the rest of
    # the suite runs meanwhile.
    def stage(item) -> int:
        fixtures = getattr(item, "fixturenames", ())
        if {"reader_journey", "every_page_report"} & set(fixtures):
            return 2
        return 1 if "site" in fixtures or item.get_closest_marker("site") or item.get_closest_marker("browser") else 0

    items.sort(key=stage)


def pytest_configure(config):
    # scikit-learn's OpenMP runtime beside torch's made small training steps up to
    # 40x slower on 2 cores (measured): the whole suite runs torch on one thread.
    import torch

    torch.set_num_threads(1)

"""Both languages have the same pages and the same code; only prose and comments differ."""

import re
from pathlib import Path

import pytest

from cnn_tutorial_docs.notebook_source import (
    code_cells,
    code_without_comments,
    is_notebook_source,
    read_notebook,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^([ \t]*)```[ \t]*(python|pycon|bash)[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def pages(language: str) -> set[str]:
    return {p.relative_to(DOCS / language).as_posix() for p in (DOCS / language).rglob("*.md")}


def test_both_languages_have_the_same_pages():
    assert pages("zh") == pages("en")
    assert "cnn.md" in pages("zh")


def code_of(text: str) -> list[str]:
    if is_notebook_source(text):
        cells = [code_without_comments(c) for c in code_cells(read_notebook(text))]
        notebook_free = re.sub(r"^```python\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    else:
        cells, notebook_free = [], text
    fences = [
        code_without_comments(body) if lang == "python" else body.strip()
        for _, lang, body in FENCE.findall(notebook_free)
        if lang != "bash"
    ]
    return cells + fences


@pytest.mark.parametrize("name", sorted(pages("zh")))
def test_same_code_in_both_languages(name):
    zh = (DOCS / "zh" / name).read_text(encoding="utf-8")
    en = (DOCS / "en" / name).read_text(encoding="utf-8")
    assert is_notebook_source(zh) == is_notebook_source(en)
    zh_code, en_code = code_of(zh), code_of(en)
    assert len(zh_code) == len(en_code), f"{name}: {len(zh_code)} code blocks in zh, {len(en_code)} in en"
    for i, (a, b) in enumerate(zip(zh_code, en_code)):
        assert a == b, f"{name}, code block {i + 1} differs between zh and en"

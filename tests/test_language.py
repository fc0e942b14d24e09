"""One output language in code, and each edition's typography.

- Strings in code (printed labels, figure titles, axes, legends) are English
  in both editions, the package's plotting helpers included; Chinese data
  (the corpus, sentences to segment) is allowed where listed below.
- Chinese prose quotes with full-width “…” (GB/T 15834), never ASCII "…" or
  「…」, and uses full-width punctuation next to Chinese text.
- English prose uses US spelling.
"""

import ast
import re
from pathlib import Path

import pytest

from cnn_tutorial_docs.notebook_source import code_cells, is_notebook_source, read_notebook

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")

# Chinese *data* in code: (page or module, a fragment of the string). Everything else must be English.
DATA_ALLOWED = {
    ("word-embedding.md", ""),  # segments Chinese sentences of the shipped corpus: its strings are data
    ("datasets.md", ""),  # shows the shipped Chinese corpus
    ("text_corpus.py", ""),  # the corpus's word groups
    ("terminology.md", ""),  # glossary terms are data
    ("installation.md", "中文"),  # checks that a module docstring carries its Chinese summary
}


def _strings(source: str) -> list[tuple[int, str]]:
    """String constants of Python source, docstrings excepted, with their line numbers."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _allowed(name: str, text: str) -> bool:
    return any(name == where and fragment in text for where, fragment in DATA_ALLOWED)


def _chapter_code(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return code_cells(read_notebook(text)) if is_notebook_source(text) else []


@pytest.mark.parametrize("language", ["zh", "en"])
def test_strings_in_chapter_code_are_english(language):
    found = []
    for path in sorted((DOCS / language).glob("*.md")):
        for number, cell in enumerate(_chapter_code(path), start=1):
            try:
                strings = _strings(cell)
            except SyntaxError:
                continue  # the build itself reports code that does not parse
            for line, value in strings:
                if CJK.search(value) and not _allowed(path.name, value):
                    found.append(f"{language}/{path.name}, cell {number}, line {line}: {value[:60]!r}")
    assert not found, "Chinese text in a string in code (labels, titles, legends are English):\n" + "\n".join(found)


def test_strings_in_the_package_are_english():
    found = []
    for path in sorted((ROOT / "cnn_tutorial").rglob("*.py")):
        for line, value in _strings(path.read_text(encoding="utf-8")):
            if CJK.search(value) and not _allowed(path.name, value):
                found.append(f"{path.relative_to(ROOT)}:{line}: {value[:60]!r}")
    assert not found, "Chinese text in a string of the package (outside docstrings):\n" + "\n".join(found)


# ---------------------------------------------------------------- prose

_FENCED = re.compile(r"^(\s*)(`{3,}|~{3,}).*?^\1\2\s*$", re.MULTILINE | re.DOTALL)
_FRONT = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.DOTALL)
_HTML_TAG = re.compile(r"<[^>\n]+>")
_URL = re.compile(r"\]\([^)]*\)|https?://\S+")
_ADMONITION = re.compile(r'^(\s*(?:!!!|\?\?\?\+?)\s+[\w -]+?\s*)"[^"]*"')  # its title is Markdown syntax


def prose_lines(path: Path):
    """(line number, text) of a page's prose: no front matter, code, inline code, math, tags or URLs."""
    text = path.read_text(encoding="utf-8")
    text = _FRONT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = _FENCED.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for number, line in enumerate(text.splitlines(), start=1):
        line = _ADMONITION.sub(r"\1", line)
        for pattern in (_INLINE_CODE, _MATH, _HTML_TAG, _URL):
            line = pattern.sub(" ", line)
        yield number, line


ZH_PAGES = sorted((DOCS / "zh").glob("*.md"))
EN_PAGES = sorted((DOCS / "en").glob("*.md"))

ASCII_QUOTED_CHINESE = re.compile(r'"[^"\n]*[\u3400-\u9fff][^"\n]*"')
CORNER_QUOTES = re.compile(r"[「」『』]")
HALF_WIDTH_NEXT_TO_CHINESE = re.compile(r"[\u3400-\u9fff][,;!?]|[\u3400-\u9fff]:(?!//)|[\u3400-\u9fff]\(|\)[\u3400-\u9fff]")


@pytest.mark.parametrize("path", ZH_PAGES, ids=lambda p: p.name)
def test_chinese_prose_uses_full_width_quotes_and_punctuation(path):
    problems = []
    for number, line in prose_lines(path):
        for pattern, why in (
            (ASCII_QUOTED_CHINESE, "ASCII quotes around Chinese: use “…”"),
            (CORNER_QUOTES, "「」/『』: use “…”"),
            (HALF_WIDTH_NEXT_TO_CHINESE, "half-width punctuation next to Chinese: use ，；！？：（）"),
        ):
            for match in pattern.finditer(line):
                problems.append(f"{path.name}:{number}: {why}: …{line[max(0, match.start() - 12): match.end() + 12]}…")
    assert not problems, "\n".join(problems)


UK = {
    "colour": "color", "behaviour": "behavior", "favour": "favor", "neighbour": "neighbor", "honour": "honor",
    "labour": "labor", "flavour": "flavor", "centre": "center", "metre": "meter", "litre": "liter",
    "catalogue": "catalog", "analogue": "analog", "programme": "program", "artefact": "artifact",
    "modelling": "modeling", "modelled": "modeled", "labelled": "labeled", "labelling": "labeling",
    "travelled": "traveled", "cancelled": "canceled", "grey": "gray", "licence": "license",
    "analyse": "analyze", "analysed": "analyzed", "analysing": "analyzing", "defence": "defense",
    "judgement": "judgment", "whilst": "while", "amongst": "among",
}
_UK_STEMS = ("normalis", "regularis", "recognis", "organis", "optimis", "minimis", "maximis", "initialis",
             "summaris", "visualis", "memoris", "generalis", "parametris", "vectoris", "tokenis", "standardis",
             "randomis", "characteris", "utilis", "realis", "specialis")
UK_WORDS = re.compile(
    r"\b(?:" + "|".join(w for w, us in UK.items() if us) + r")s?\b"
    r"|\b(?:" + "|".join(_UK_STEMS) + r")(?:e|ed|es|er|ers|ing|ation|ations)\b",
    re.IGNORECASE,
)
# Titles of published works keep their own spelling.
TITLES = {("resources.md", "Visualising")}


@pytest.mark.parametrize("path", EN_PAGES, ids=lambda p: p.name)
def test_english_prose_uses_us_spelling(path):
    problems = [
        f"{path.name}:{number}: {match.group(0)!r}"
        for number, line in prose_lines(path)
        for match in UK_WORDS.finditer(line)
        if (path.name, match.group(0)) not in TITLES
    ]
    assert not problems, "UK spelling (this site writes US English):\n" + "\n".join(problems)

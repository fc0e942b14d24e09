"""The site's glossary: one standard term per concept, from `tooling/cnn_tutorial_docs/glossary.yml`.

The YAML file is the single source of the terms. This module

- loads and validates it (`load_glossary`);
- runs each term's one-line code example and formats its result (`run_examples`);
- renders the glossary as Markdown tables in Chinese or English (`render_tables`);
- writes the jieba user dictionary that the search plugin segments Chinese with
  (`jieba_dictionary`), so terms such as 卷积神经网络 stay whole in the index;
- finds the non-standard variants the glossary lists under `avoid` in Chinese
  text (`check_markdown`, `check_python`), which `tests/test_glossary.py` runs
  over every Chinese page and the package's comments and docstrings.

As an MkDocs plugin (`glossary`) it writes the jieba dictionary in `on_config`,
before the search plugin loads it, points the search plugin at it, and
replaces the marker `<!-- glossary -->` in a page with the tables.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import html
import io
import os
import sys
import re
import time
import tokenize
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority

from cnn_tutorial_docs.atomic import write_text

SOURCE = Path(__file__).with_name("glossary.yml")
MARKER = "<!-- glossary -->"
_CJK = re.compile(r"[\u3400-\u9fff]")
_QUOTED = re.compile(r"“[^”]*”|「[^」]*」")  # the site quotes with “”; 「」 is still read


@dataclass(frozen=True)
class Term:
    """One concept: its standard Chinese and English terms and what to avoid."""

    zh: str
    en: str
    zh_def: str
    en_def: str
    code: str
    section: str
    abbr: str = ""
    aliases: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    avoid_except: tuple[str, ...] = ()
    wrong_gloss: tuple[str, ...] = ()
    search: tuple[str, ...] = ()

    @property
    def english(self) -> str:
        """The English term with its abbreviation: 'long short-term memory (LSTM)'."""
        return f"{self.en} ({self.abbr})" if self.abbr else self.en


@dataclass(frozen=True)
class Section:
    id: str
    zh: str
    en: str
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Glossary:
    prelude: str
    sections: tuple[Section, ...]

    @property
    def terms(self) -> list[Term]:
        return [term for section in self.sections for term in section.terms]


@dataclass(frozen=True)
class Violation:
    """A non-standard term found in a file."""

    path: str
    line: int
    variant: str
    term: Term
    gloss: bool = False  # a standard word glossed with the wrong English term

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}: " if self.path else ""
        if self.gloss:
            return f"{where}「{self.variant}」 glossed as {self.term.english}, which is {self.term.zh}"
        return f"{where}「{self.variant}」 is not the standard term; write {self.term.zh} ({self.term.english})"


_TERM_KEYS = {
    "zh", "en", "abbr", "aliases", "zh_def", "en_def", "code",
    "avoid", "avoid_except", "wrong_gloss", "search",
}


def load_glossary(path: Path | str = SOURCE) -> Glossary:
    """Read and check the glossary file.

    Raises:
        ValueError: a term lacks a field, has an unknown one, or a field has the wrong type.

    Examples:
        >>> glossary = load_glossary()
        >>> term = next(t for t in glossary.terms if t.en == "pooling")
        >>> term.zh, term.avoid
        ('池化', ('汇聚',))
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise ValueError(f"{path}: expected a mapping with a list under 'sections'")
    sections = []
    for number, raw in enumerate(data["sections"], start=1):
        if not isinstance(raw, dict) or not {"id", "zh", "en", "terms"} <= raw.keys():
            raise ValueError(f"{path}: section {number} needs id, zh, en and terms, got {raw!r}")
        terms = tuple(_term(path, raw["id"], entry) for entry in raw["terms"])
        sections.append(Section(raw["id"], raw["zh"], raw["en"], terms))
    return Glossary(str(data.get("prelude") or ""), tuple(sections))


def _term(path, section: str, entry) -> Term:
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: section {section!r}: expected a mapping per term, got {entry!r}")
    name = entry.get("zh") or entry.get("en") or entry
    unknown = entry.keys() - _TERM_KEYS
    if unknown:
        raise ValueError(f"{path}: term {name!r}: unknown fields {sorted(unknown)}")
    values = {}
    for key in ("zh", "en", "zh_def", "en_def", "code"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ValueError(f"{path}: term {name!r}: {key!r} must be a non-empty string, got {entry.get(key)!r}")
        values[key] = entry[key].strip()
    if not isinstance(entry.get("abbr", ""), str):
        raise ValueError(f"{path}: term {name!r}: 'abbr' must be a string, got {entry['abbr']!r}")
    for key in ("aliases", "avoid", "avoid_except", "wrong_gloss", "search"):
        items = entry.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"{path}: term {name!r}: {key!r} must be a list of strings, got {items!r}")
        values[key] = tuple(items)
    return Term(section=section, abbr=entry.get("abbr", ""), **values)


# ---------------------------------------------------------------- examples


@dataclass(frozen=True)
class Result:
    text: str  # the value's repr (or what it printed), whitespace collapsed
    error: str = ""  # "TypeError: ..." when it raised
    warnings: tuple[str, ...] = field(default=())


_RESULTS: dict[str, dict[str, Result]] = {}


def run_examples(glossary: Glossary) -> dict[str, Result]:
    """Run every term's `code` after the prelude, each in a fresh namespace.

    Returns a `Result` per code line. The value of an expression is shown with
    `repr`; a statement shows what it printed. Results are kept per process,
    keyed by the prelude and the code (the site builds each language in turn).

    Examples:
        >>> glossary = Glossary("x = 2", (Section("s", "节", "S", (
        ...     Term("平方", "square", "", "", "x ** 2", "s"),)),))
        >>> run_examples(glossary)["x ** 2"]
        Result(text='4', error='', warnings=())
    """
    key = hashlib.sha256(repr((glossary.prelude, [t.code for t in glossary.terms])).encode()).hexdigest()
    if key not in _RESULTS:
        _RESULTS[key] = {term.code: run_example(glossary.prelude, term.code) for term in glossary.terms}
    return _RESULTS[key]


def run_example(prelude: str, code: str) -> Result:
    """Run one example; never raises (errors and warnings are in the result)."""
    namespace: dict = {"__name__": "__glossary__"}
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
        warnings.simplefilter("always")
        try:
            exec(compile(prelude, "<glossary prelude>", "exec"), namespace)
            try:
                compiled, is_expression = compile(code, "<glossary example>", "eval"), True
            except SyntaxError:
                compiled, is_expression = compile(code, "<glossary example>", "exec"), False
            value = eval(compiled, namespace) if is_expression else None
        except Exception as error:  # reported, not raised: the caller names the term
            return Result("", f"{type(error).__name__}: {error}")
    text = repr(value) if value is not None else printed.getvalue()
    return Result(" ".join(text.split()), warnings=tuple(str(w.message) for w in caught))


# ---------------------------------------------------------------- rendering

_HEADERS = {
    "zh": ("术语", "定义", "示例代码 → 结果"),
    "en": ("Term", "Definition", "Example → result"),
}
_NOTES = {"zh": ("也作：{}", "不用：{}", "、"), "en": ("also: {}", "not: {}", ", ")}
_PRELUDE_NOTE = {
    "zh": "“示例代码”的每一行都在构建网站时单独运行过，运行前先执行了下面几行；箭头后面是它的值。",
    "en": "Each example line ran on its own when the site was built, after the lines below; "
    "its value follows the arrow.",
}


def render_tables(glossary: Glossary, language: str, results: dict[str, Result] | None = None) -> str:
    """The glossary as Markdown: the prelude, then one heading and one table per section.

    Each row has three cells: the term in both languages (with its accepted
    aliases and the variants to avoid), the definition, and the example with
    its result, so that the code gets most of the width.

    Raises:
        ValueError: unknown language, or an example raised.

    Examples:
        >>> glossary = Glossary("", (Section("s", "节", "S", (
        ...     Term("池化", "pooling", "取最大值", "take the maximum", "max(1, 2)", "s", avoid=("汇聚",)),)),))
        >>> print(render_tables(glossary, "zh").rstrip().split("\\n\\n")[-1])
        | 术语 | 定义 | 示例代码 → 结果 |
        |---|---|---|
        | **池化**<br>pooling<br><small>不用：汇聚</small> | 取最大值 | <code>max(1, 2)</code><br>→ <code>2</code> |
    """
    if language not in _HEADERS:
        raise ValueError(f"language must be one of {sorted(_HEADERS)}, got {language!r}")
    results = run_examples(glossary) if results is None else results
    also, avoid, comma = _NOTES[language]
    parts = [f"{_PRELUDE_NOTE[language]}\n\n```python\n{glossary.prelude.strip()}\n```"]
    for section in glossary.sections:
        title = section.zh if language == "zh" else section.en
        rows = ["| " + " | ".join(_HEADERS[language]) + " |", "|" + "---|" * len(_HEADERS[language])]
        for term in section.terms:
            result = results[term.code]
            if result.error:
                raise ValueError(f"glossary example of {term.zh} ({term.en}) raised {result.error}: {term.code}")
            first, second = (term.zh, term.english) if language == "zh" else (term.english, term.zh)
            names = [f"**{_cell(first)}**", _cell(second)]
            if term.aliases:
                names.append(f"<small>{_cell(also.format(comma.join(term.aliases)))}</small>")
            if term.avoid:
                names.append(f"<small>{_cell(avoid.format(comma.join(term.avoid)))}</small>")
            cells = [
                "<br>".join(names),
                _cell(term.zh_def if language == "zh" else term.en_def, markdown=True),
                f"{_code(term.code)}<br>→ {_code(result.text)}",
            ]
            rows.append("| " + " | ".join(cells) + " |")
        parts.append(f"### {title} {{#glossary-{section.id}}}\n\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"


def _cell(text: str, markdown: bool = False) -> str:
    text = text.replace("|", "&#124;")
    return text if markdown else text.replace("*", "\\*")


def _code(text: str) -> str:
    # Brackets as entities: Markdown would read `x[0]["lr"]` as a reference link.
    escaped = html.escape(text).replace("|", "&#124;").replace("[", "&#91;").replace("]", "&#93;")
    return f"<code>{escaped}</code>"


# ---------------------------------------------------------------- jieba


def search_words(glossary: Glossary) -> list[str]:
    """The Chinese words the search must keep whole: terms, aliases and extra search words."""
    words: list[str] = []
    for term in glossary.terms:
        for word in (term.zh, *term.aliases, *term.search):
            if len(_CJK.findall(word)) >= 2 and not re.search(r"\s", word) and word not in words:
                words.append(word)
    return words


def jieba_dictionary(glossary: Glossary) -> str:
    """A jieba user dictionary: one `word frequency n` line per word.

    The frequency grows with the word's length, so a longer term wins over
    the shorter words inside it (卷积神经网络 over 卷积 + 神经网络). A low
    frequency is not enough: with 50, or none, jieba cut "在训练集中" into
    在/训练/集中.

    Examples:
        >>> jieba_dictionary(load_glossary()).splitlines()[0]
        '张量 2000 n'
    """
    return "".join(f"{word} {1000 * len(word)} n\n" for word in search_words(glossary))


# ---------------------------------------------------------------- checking


def line_violations(
    text: str, glossary: Glossary, *, path: str = "", line: int = 0, quotes_allowed: bool = False
) -> list[Violation]:
    """The non-standard terms in one line of Chinese text.

    With `quotes_allowed`, a variant inside “” (or 「」) is a mention (the original's
    wording, or the variant named as such), not a use.

    Examples:
        >>> glossary = load_glossary()
        >>> [v.variant for v in line_violations("步长为 2 的汇聚层", glossary)]
        ['步长', '汇聚']
        >>> line_violations("原文写作“汇聚”", glossary, quotes_allowed=True)
        []
        >>> line_violations("正弦波的周期是 2π", glossary)
        []
        >>> [str(v) for v in line_violations("递归神经网络（recurrent neural network）", glossary)]
        ['「递归神经网络」 glossed as recurrent neural network (RNN), which is 循环神经网络']
    """
    if not _CJK.search(text):
        return []
    quoted = [m.span() for m in _QUOTED.finditer(text)] if quotes_allowed else []
    found: list[tuple[int, int, Violation]] = []
    for term in glossary.terms:
        allowed = [m.span() for pattern in term.avoid_except for m in re.finditer(pattern, text)]
        for variant in term.avoid:
            for match in re.finditer(re.escape(variant), text):
                span = match.span()
                if _inside(span, allowed) or _inside(span, quoted):
                    continue
                found.append((*span, Violation(path, line, variant, term)))
        names = [re.escape(term.en.split()[0])] + ([re.escape(term.abbr)] if term.abbr else [])
        for word in term.wrong_gloss:
            pattern = rf"{re.escape(word)}\s*[（(][^）)]*?\b(?:{'|'.join(names)})\b"
            for match in re.finditer(pattern, text, flags=re.IGNORECASE):
                if _inside(match.span(), quoted):
                    continue
                found.append((match.start(), match.start() + len(word), Violation(path, line, word, term, gloss=True)))
    # a variant inside a longer one found at the same place is reported once, as the longer one
    kept = [
        v for start, end, v in found
        if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in found)
    ]
    return kept


def _inside(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


_ADMONITION = re.compile(r'^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?)[ \t]+[\w-]+(?:[ \t]+[\w-]+)*[ \t]+"(?P<title>[^"]*)"')


def check_markdown(text: str, glossary: Glossary, *, path: str = "", glossary_page: bool = False) -> list[Violation]:
    """The non-standard terms in a Chinese page: prose, code and comments alike.

    A variant written inside “” is allowed where it is a mention rather than a
    use: anywhere on the glossary page itself, and inside a 译者注 admonition
    (a `!!! note "译者注…"` block) where the original's wording is quoted.

    Examples:
        >>> glossary = load_glossary()
        >>> page = '汇聚\\n\\n!!! note "译者注"\\n    原文的“汇聚”应为池化。\\n\\n仍然是“汇聚”\\n'
        >>> [(v.line, v.variant) for v in check_markdown(page, glossary)]
        [(1, '汇聚'), (6, '汇聚')]
    """
    violations = []
    note_indent: int | None = None  # indentation of the 译者注 block we are in
    for number, line in enumerate(text.splitlines(), start=1):
        header = _ADMONITION.match(line)
        if note_indent is not None and line.strip() and _indent(line) <= note_indent:
            note_indent = None
        if header and "译者注" in header.group("title"):
            note_indent = _indent(line)
        quotes = glossary_page or note_indent is not None
        violations += line_violations(line, glossary, path=path, line=number, quotes_allowed=quotes)
    return violations


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def check_python(source: str, glossary: Glossary, *, path: str = "") -> list[Violation]:
    """The non-standard terms in the `#` comments and docstrings of a module.

    Examples:
        >>> glossary = load_glossary()
        >>> source = 'def f():\\n    \"\"\"做一次汇聚。\"\"\"\\n    return "汇聚"  # 步长\\n'
        >>> [(v.line, v.variant) for v in check_python(source, glossary)]
        [(2, '汇聚'), (3, '步长')]
    """
    lines = source.splitlines()
    texts: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            texts.append((token.start[0], token.string))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                texts += [(n, lines[n - 1]) for n in range(first.lineno, first.end_lineno + 1)]
    violations = []
    for number, text in sorted(texts):
        violations += line_violations(text, glossary, path=path, line=number)
    return violations


# ---------------------------------------------------------------- plugin


class GlossaryConfig(Config):
    source = c.Type(str, default="tooling/cnn_tutorial_docs/glossary.yml")
    """The glossary, relative to mkdocs.yml."""
    jieba_dict = c.Type(str, default=".cache/glossary/jieba_user_dict.txt")
    """Where to write the search's jieba user dictionary, relative to mkdocs.yml."""
    results_cache = c.Type(str, default=".cache/glossary")
    """Where the examples' results are kept between builds (keyed by the examples and library versions)."""


class GlossaryPlugin(BasePlugin[GlossaryConfig]):
    """Writes the search's jieba dictionary and renders the glossary tables."""

    @event_priority(100)  # before the search plugin loads the jieba dictionary in its on_config
    def on_config(self, config):
        root = Path(config.config_file_path).parent
        try:
            self.glossary = load_glossary(root / self.config.source)
        except (OSError, ValueError, yaml.YAMLError) as error:
            raise PluginError(f"glossary: {error}") from error
        dictionary = (root / self.config.jieba_dict).resolve()
        dictionary.parent.mkdir(parents=True, exist_ok=True)
        content = jieba_dictionary(self.glossary)
        if not dictionary.exists() or dictionary.read_text(encoding="utf-8") != content:
            write_text(dictionary, content)  # a concurrent build's search plugin may be reading it
        for name, plugin in config.plugins.items():
            if name in ("search", "material/search") and hasattr(plugin.config, "jieba_dict_user"):
                current = plugin.config.jieba_dict_user
                if current and Path(current).resolve() != dictionary:
                    raise PluginError(
                        f"glossary: the search plugin's jieba_dict_user is {current!r}, but the glossary "
                        f"writes the dictionary to {self.config.jieba_dict!r}; remove jieba_dict_user "
                        "from mkdocs.yml (the glossary plugin sets it)"
                    )
                plugin.config.jieba_dict_user = str(dictionary)
        return config

    def _results(self, config) -> dict[str, Result]:
        """The examples' results, from a file kept between builds while the examples and libraries are unchanged.

        Running the ~100 examples costs seconds (imports included) on every build otherwise.
        """
        import json
        from importlib import metadata

        versions = sorted((d.metadata["Name"] or "", d.version) for d in metadata.distributions())
        payload = repr((self.glossary.prelude, [t.code for t in self.glossary.terms], versions, sys.version))
        key = hashlib.sha256(payload.encode()).hexdigest()[:24]
        path = Path(config.config_file_path).parent / self.config.results_cache / f"examples-{key}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            os.utime(path)  # last use: another environment's results are removed only after 14 days unused
            return {code: Result(r["text"], r["error"], tuple(r["warnings"])) for code, r in stored.items()}
        except (OSError, ValueError, KeyError, TypeError):
            pass
        results = run_examples(self.glossary)
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("examples-*.json"):
            with contextlib.suppress(OSError):  # another build may have removed it meanwhile
                if old.stat().st_mtime < time.time() - 14 * 86400:
                    old.unlink()
        rows = {code: {"text": r.text, "error": r.error, "warnings": list(r.warnings)} for code, r in results.items()}
        write_text(path, json.dumps(rows, ensure_ascii=False))
        return results

    @event_priority(-100)  # after the notebooks plugin has turned a notebook page into Markdown
    def on_page_markdown(self, markdown, page, config, files):
        if MARKER not in markdown:
            return markdown
        language = str(config.theme.get("language") or "en").split("-")[0].split("_")[0]
        try:
            tables = render_tables(self.glossary, "zh" if language == "zh" else "en", self._results(config))
        except ValueError as error:
            raise PluginError(f"glossary ({page.file.src_uri}): {error}") from error
        return markdown.replace(MARKER, tables)

"""Every module of the package has its place in the API reference, in both languages."""

import logging
import pkgutil
import re
from pathlib import Path

import pytest

import cnn_tutorial

DOCS = Path(__file__).resolve().parents[1] / "docs"
DIRECTIVE = re.compile(r"^::: (cnn_tutorial\.[\w.]+)\s*$", re.MULTILINE)
NOT_DOCUMENTED = {"cnn_tutorial.__main__"}  # two lines that call cli.main


def documented(language: str) -> list[str]:
    """The modules documented in docs/<language>/api/, checking each page documents the module it is named for."""
    found = []
    for page in sorted((DOCS / language / "api").glob("*.md")):
        modules = DIRECTIVE.findall(page.read_text(encoding="utf-8"))
        assert modules == [f"cnn_tutorial.{page.stem}"], f"{page} should document cnn_tutorial.{page.stem} only"
        found += modules
    return found


def package_modules() -> set[str]:
    return {f"cnn_tutorial.{m.name}" for m in pkgutil.iter_modules(cnn_tutorial.__path__)} - NOT_DOCUMENTED


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_module_is_documented_once(language):
    modules = documented(language)
    assert len(modules) == len(set(modules)), f"a module is documented twice in docs/{language}/api/"
    missing = package_modules() - set(modules)
    assert not missing, f"modules missing from docs/{language}/api/: {sorted(missing)}"
    unknown = set(modules) - package_modules()
    assert not unknown, f"docs/{language}/api/ documents modules that do not exist: {sorted(unknown)}"


def test_the_api_index_links_every_module_page_in_both_languages():
    for language in ("zh", "en"):
        index = (DOCS / language / "api.md").read_text(encoding="utf-8")
        linked = set(re.findall(r"\]\(api/(\w+)\.md\)", index))
        assert linked == {m.removeprefix("cnn_tutorial.") for m in package_modules()}, language


def test_docstrings_parse_without_warnings(caplog):
    """What `mkdocs build --strict` would reject on the API pages, found in seconds instead of minutes:
    a parameter or return value that has neither a type annotation nor a type in its docstring, an
    `Args:` entry for a parameter that does not exist, a malformed section."""
    import griffe

    package = griffe.load("cnn_tutorial", search_paths=[str(DOCS.parent)], docstring_parser="google")

    def parse(obj):
        if obj.is_alias:
            return
        if obj.docstring:
            obj.docstring.parsed  # parsing is what logs the warnings
        for member in obj.members.values():
            parse(member)

    with caplog.at_level(logging.WARNING):
        parse(package)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, "\n".join(warnings)

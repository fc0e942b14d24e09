"""Every module of the package has its place in the API reference, in both languages."""

import pkgutil
import re
from pathlib import Path

import pytest

import cnn_tutorial

DOCS = Path(__file__).resolve().parents[1] / "docs"
DIRECTIVE = re.compile(r"^::: (cnn_tutorial\.[\w.]+)\s*$", re.MULTILINE)
NOT_DOCUMENTED = {"cnn_tutorial.__main__"}  # two lines that call cli.main


def documented(language: str) -> list[str]:
    found = []
    for page in sorted((DOCS / language).glob("api*.md")):
        found += DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    return found


def package_modules() -> set[str]:
    return {f"cnn_tutorial.{m.name}" for m in pkgutil.iter_modules(cnn_tutorial.__path__)} - NOT_DOCUMENTED


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_module_is_documented_once(language):
    modules = documented(language)
    assert len(modules) == len(set(modules)), f"a module is documented twice in docs/{language}/api*.md"
    missing = package_modules() - set(modules)
    assert not missing, f"modules missing from docs/{language}/api*.md: {sorted(missing)}"
    unknown = set(modules) - package_modules()
    assert not unknown, f"docs/{language}/api*.md documents modules that do not exist: {sorted(unknown)}"


def test_both_languages_document_the_same_modules_on_the_same_pages():
    for page in sorted((DOCS / "zh").glob("api*.md")):
        en = DOCS / "en" / page.name
        assert DIRECTIVE.findall(page.read_text(encoding="utf-8")) == DIRECTIVE.findall(en.read_text(encoding="utf-8"))

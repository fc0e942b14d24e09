"""The API reference is generated from the package: every module gets a page in each language."""

import logging
from pathlib import Path
from types import SimpleNamespace

from cnn_tutorial_docs.api_pages import GENERATED, ApiPagesPlugin, package_modules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_every_module_has_a_summary_in_both_languages():
    modules = package_modules(ROOT / "cnn_tutorial", "cnn_tutorial")
    assert len(modules) >= 5
    missing = [f"{m.name}: {sorted({'en', 'zh'} - set(m.summary))}" for m in modules if set(m.summary) != {"en", "zh"}]
    assert not missing, (
        "each module's docstring needs a first line in English and a line `中文：…` (the API index shows them):\n"
        + "\n".join(missing)
    )


def test_pages_and_nav_entries_follow_the_package(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "alpha.py").write_text('"""Alpha.\n\n中文：甲。\n"""\n')
    (tmp_path / "docs" / "zh" / "api").mkdir(parents=True)
    stale = tmp_path / "docs" / "zh" / "api" / "gone.md"
    stale.write_text(GENERATED + "\n# old\n")
    handwritten = tmp_path / "docs" / "zh" / "api" / "notes.md"
    handwritten.write_text("# kept\n")
    plugin = ApiPagesPlugin()
    plugin.load_config({"package": "pkg"})
    nav = [{"Home": "index.md"}, {"API": ["api.md"]}]
    config = SimpleNamespace(config_file_path=str(tmp_path / "mkdocs.yml"), docs_dir=str(tmp_path / "docs"), nav=nav)
    plugin.on_config(config)
    page = (tmp_path / "docs" / "zh" / "api" / "alpha.md").read_text()
    assert "::: pkg.alpha" in page and "甲。" in page
    assert "Alpha." in (tmp_path / "docs" / "en" / "api" / "alpha.md").read_text()
    assert not stale.exists(), "a page of a module that is gone is removed"
    assert handwritten.exists(), "a page the plugin did not write is left alone"
    assert nav[1] == {"API": ["api.md", "api/alpha.md"]}
    plugin.on_config(config)
    assert nav[1] == {"API": ["api.md", "api/alpha.md"]}, "a second build (mkdocs serve) adds nothing twice"


def test_docstrings_parse_without_warnings(caplog):
    """What `mkdocs build --strict` would reject on the API pages, found in seconds instead of minutes:
    a parameter or return value that has neither a type annotation nor a type in its docstring, an
    `Args:` entry for a parameter that does not exist, a malformed section."""
    import griffe

    package = griffe.load("cnn_tutorial", search_paths=[str(ROOT)], docstring_parser="google")

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

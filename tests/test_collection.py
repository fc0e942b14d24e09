"""What pytest collects must import the same way on every Python, the Debian and Ubuntu system ones too.

A collected file in a folder without `__init__.py` is imported as a top-level
module named after the file ("prepend" import mode). If that name is a standard
module the interpreter has already imported (Debian's and Ubuntu's Pythons
import their own `sitecustomize` at start-up), collection stops with
`ImportPathMismatchError` before any test runs.
"""

import fnmatch
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Imported at start-up by some interpreters, though not in sys.stdlib_module_names.
START_UP_MODULES = {"sitecustomize", "usercustomize"}


def top_level_names(config: pytest.Config) -> dict[str, Path]:
    """The top-level module name of every `.py` file pytest collects under the configured testpaths."""
    testpaths = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["testpaths"]
    root_conftest = next(plugin for plugin in config.pluginmanager.get_plugins()
                         if getattr(plugin, "__file__", None) == str(ROOT / "conftest.py"))
    ignored = [str(ROOT / pattern) for pattern in getattr(root_conftest, "collect_ignore_glob", [])]
    names = {}
    for testpath in testpaths:
        for path in sorted((ROOT / testpath).rglob("*.py")):
            if any(fnmatch.fnmatch(str(path), pattern) for pattern in ignored):
                continue
            if not (path.parent / "__init__.py").exists():  # a package's modules are named after the package
                names[path.stem] = path
    return names


def test_no_collected_module_shadows_a_standard_one(pytestconfig):
    names = top_level_names(pytestconfig)
    assert "test_collection" in names, "the walk finds the test files themselves"
    shadowing = {name: path for name, path in names.items() if name in sys.stdlib_module_names | START_UP_MODULES}
    assert not shadowing, f"collected as standard module names: {shadowing}"

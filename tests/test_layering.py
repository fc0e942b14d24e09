"""The package's import graph, read from the source with `ast`: no cycle, and the core never
imports the command line (`cnn_tutorial.cli`). Imports inside functions count (they hid the
old cycle); imports under `if TYPE_CHECKING:` do not (they never run)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnn_tutorial"
# `python -m cnn_tutorial` runs the command line; no module imports the entry script.
ENTRY_POINTS = {"cnn_tutorial.__main__", "cnn_tutorial.cli.__main__"}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, package: str, modules: set[str]):
    """Names of the package's modules that `tree` imports when it runs (TYPE_CHECKING blocks left out)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == package:
            for alias in node.names:  # `from cnn_tutorial import training` imports a module
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in modules else node.module
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package in `root` -> the package's modules it imports."""
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = {target for target in _imports(tree, root.name, set(paths)) if target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def core_modules_importing_cli(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    cli = f"{package}.cli"
    return {
        name: {t for t in targets if t == cli or t.startswith(cli + ".")}
        for name, targets in graph.items()
        if not (name == cli or name.startswith(cli + ".")) and name not in ENTRY_POINTS
        and any(t == cli or t.startswith(cli + ".") for t in targets)
    }


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# ---------------------------------------------------------------- the checks themselves can fail


def test_a_cycle_hidden_in_a_function_is_found(tmp_path):
    package = write_package(tmp_path / "cnn_tutorial", {
        "__init__.py": "",
        "training.py": "def fit():\n    from cnn_tutorial.cli.checkpoints import save\n",
        "cli/__init__.py": "",
        "cli/checkpoints.py": "from cnn_tutorial.training import fit\n",
    })  # fmt: skip
    graph = import_graph(package)
    assert find_cycle(graph) == ["cnn_tutorial.cli.checkpoints", "cnn_tutorial.training", "cnn_tutorial.cli.checkpoints"]
    assert core_modules_importing_cli(graph, "cnn_tutorial") == {"cnn_tutorial.training": {"cnn_tutorial.cli.checkpoints"}}


def test_type_checking_imports_and_submodule_imports_are_read_as_python_runs_them(tmp_path):
    package = write_package(tmp_path / "cnn_tutorial", {
        "__init__.py": "",
        "history.py": "",
        "training.py": "from cnn_tutorial import plotting\n",
        "plotting.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cnn_tutorial.training import fit\n"
                       "else:\n    from cnn_tutorial import history\n",
    })  # fmt: skip
    graph = import_graph(package)
    assert graph["cnn_tutorial.training"] == {"cnn_tutorial.plotting"}
    assert graph["cnn_tutorial.plotting"] == {"cnn_tutorial.history"}
    assert find_cycle(graph) is None


# ---------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def graph():
    return import_graph(PACKAGE)


def test_the_package_has_no_import_cycle(graph):
    assert "cnn_tutorial.training" in graph and "cnn_tutorial.cli.distributed" in graph  # the walk saw the package
    assert find_cycle(graph) is None


def test_the_core_never_imports_the_command_line(graph):
    assert core_modules_importing_cli(graph, "cnn_tutorial") == {}


def test_seeding_and_plotting_do_not_depend_on_the_training_loop(graph):
    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in graph.get(todo.pop(), ()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    for module in ("cnn_tutorial.runtime", "cnn_tutorial.history", "cnn_tutorial.plotting", "cnn_tutorial.checkpoints"):
        assert "cnn_tutorial.training" not in reachable(module), module
    assert "cnn_tutorial.checkpoints" in graph["cnn_tutorial.training"]  # fit keeps checkpoints with the core's module


# ---------------------------------------------------------------- the top-level names


def test_every_top_level_name_comes_from_the_module_it_is_listed_under():
    import importlib
    import tomllib

    import cnn_tutorial

    assert cnn_tutorial.__all__ == sorted(cnn_tutorial._EXPORTS)
    for name, module in cnn_tutorial._EXPORTS.items():
        value = getattr(importlib.import_module(f"cnn_tutorial.{module}"), name)
        assert getattr(cnn_tutorial, name) is value
        assert value.__module__ == f"cnn_tutorial.{module}", f"{name} is defined in {value.__module__}, not {module}"
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cnn_tutorial.__version__ == project["version"]  # one source: the distribution's metadata

"""The notebook plugin on tiny throw-away sites: failures fail the build,
outputs follow the package, the cache is reused and shared across languages."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

NOTEBOOK_HEADER = """---
jupyter:
  kernelspec: {name: python3, display_name: Python 3, language: python}
---
"""


def make_site(root: Path, pages: dict[str, str], package_value: int = 1) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    (root / "tinypkg").mkdir(exist_ok=True)
    (root / "tinypkg" / "__init__.py").write_text(f"VALUE = {package_value}\n")
    (root / "mkdocs.yml").write_text(
        textwrap.dedent(
            """\
            site_name: test
            plugins:
              - cnn-tutorial-notebooks:
                  packages: [tinypkg]
                  workers: 2
            """
        )
    )
    for name, body in pages.items():
        (root / "docs" / name).write_text(body)
    return root


def notebook(*cells: str, prose: str = "# Page\n") -> str:
    return NOTEBOOK_HEADER + prose + "".join(f"\n```python\n{c}\n```\n" for c in cells)


def build(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def page_html(root: Path, name: str) -> str:
    return (root / "site" / name / "index.html").read_text()


def test_a_raising_cell_fails_the_build_and_names_the_error(tmp_path):
    site = make_site(
        tmp_path,
        {"index.md": "# Home\n", "broken.md": notebook("x = 1", "raise ValueError('shape mismatch 42')", "y = 2")},
    )
    result = build(site)
    assert result.returncode != 0
    assert "broken.md" in result.stderr
    assert "shape mismatch 42" in result.stderr


def test_outputs_follow_the_package_and_unchanged_builds_reuse_the_cache(tmp_path):
    counter = tmp_path / "executions.txt"
    code = f"open({str(counter)!r}, 'a').write('run\\n')\nimport tinypkg\nprint('value is', tinypkg.VALUE * 10)"
    site = make_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook(code)}, package_value=1)

    first = build(site)
    assert first.returncode == 0, first.stderr
    assert "value is 10" in page_html(site, "nb")

    again = build(site)
    assert again.returncode == 0, again.stderr
    assert counter.read_text().count("run") == 1, "an unchanged build must not execute again"

    (site / "tinypkg" / "__init__.py").write_text("VALUE = 7\n")
    edited = build(site)
    assert edited.returncode == 0, edited.stderr
    assert "value is 70" in page_html(site, "nb"), "an edit to the package must refresh the output"
    assert counter.read_text().count("run") == 2


def test_notebooks_differing_only_in_comments_execute_once(tmp_path):
    counter = tmp_path / "executions.txt"
    code = f"open({str(counter)!r}, 'a').write('run\\n')\nprint(6 * 7)"
    site = make_site(
        tmp_path,
        {
            "index.md": "# Home\n",
            "zh.md": notebook("# 中文注释\n" + code, prose="# 中文\n"),
            "en.md": notebook("# English comment\n" + code, prose="# English\n"),
        },
    )
    result = build(site)
    assert result.returncode == 0, result.stderr
    assert counter.read_text().count("run") == 1
    for name, comment in (("zh", "中文注释"), ("en", "English comment")):
        html = page_html(site, name)
        assert comment in html  # each page keeps its own comments...
        assert "42" in html  # ...and shows the shared output


def test_figures_become_files_and_the_executed_notebook_is_downloadable(tmp_path):
    code = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    site = make_site(tmp_path, {"index.md": "# Home\n", "fig.md": notebook(code)})
    result = build(site)
    assert result.returncode == 0, result.stderr
    html = page_html(site, "fig")
    assert "data:image" not in html
    pngs = list((site / "site" / "fig").glob("figure-*.png"))
    assert len(pngs) == 1 and pngs[0].name in html
    import nbformat

    executed = nbformat.read(site / "site" / "fig" / "fig.ipynb", as_version=4)
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("x = 1  # 注释\n", "x = 1"),
        ("# only a comment\ny = '#not'\n", "y = '#not'"),
        ("def f():\n    # inner\n    return 1\n", "def f():\n    return 1"),
    ],
)
def test_code_without_comments(source, expected):
    from cnn_tutorial_docs.notebook_source import code_without_comments

    assert code_without_comments(source) == expected


def test_files_a_notebook_writes_are_published_next_to_its_page_and_cached(tmp_path):
    counter = tmp_path / "executions.txt"
    code = f"open({str(counter)!r}, 'a').write('run\\n')\nopen('model.json', 'w').write('{{\"weights\": [1, 2]}}')"
    site = make_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook(code)})
    for _ in range(2):
        result = build(site)
        assert result.returncode == 0, result.stderr
        assert (site / "site" / "nb" / "model.json").read_text() == '{"weights": [1, 2]}'
    assert counter.read_text().count("run") == 1, "the second build served the file from the cache"


def test_run_page_executes_one_chapter_like_the_build(tmp_path, capsys):
    from cnn_tutorial_docs import run_page

    page = tmp_path / "page.md"
    page.write_text(NOTEBOOK_HEADER + "# T\n\n```python\nprint(6 * 7)\n```\n", encoding="utf-8")
    assert run_page.main([str(page), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "──── cell 1\n42\n" in out

    page.write_text(NOTEBOOK_HEADER + "# T\n\n```python\n1 / 0\n```\n", encoding="utf-8")
    assert run_page.main([str(page), "--no-cache"]) == 1
    assert "ZeroDivisionError" in capsys.readouterr().err

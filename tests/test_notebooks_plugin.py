"""The notebook plugin on tiny throw-away sites: failures fail the build,
outputs follow the package, the cache is reused and shared across languages."""

import json
import os
import signal
import time
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


def build(root: Path, strict: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *(["--strict"] if strict else []), "-f", str(root / "mkdocs.yml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def page_html(root: Path, name: str) -> str:
    return (root / "site" / name / "index.html").read_text()


@pytest.mark.slow
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


def test_notebooks_run_longest_first_and_never_timed_ones_most_code_first():
    from cnn_tutorial_docs.execution import Job, execution_order
    from cnn_tutorial_docs.notebook_source import read_notebook

    def job(page: str, *cells: str, prose: str = "# Page\n") -> Job:
        return Job(page, read_notebook(notebook(*cells, prose=prose)), {page: ""})

    jobs = [job("en/a_short.md", "x = 1", prose="# Page\n\nA long explanation. " * 50),  # prose costs nothing
            job("en/b_timed_fast.md", "x = 1"),
            job("en/c_long.md", "x = 1", "y = [i for i in range(10)]\nprint(y)"), job("zh/d_timed_slow.md", "x = 1")]
    order = [j.name for j in execution_order(jobs, {"b_timed_fast.md": 2.0, "d_timed_slow.md": 50.0})]
    assert order == ["en/c_long.md", "en/a_short.md", "zh/d_timed_slow.md", "en/b_timed_fast.md"]


def test_the_key_sees_strings_and_tags_and_ignores_comments(tmp_path):
    import logging

    from cnn_tutorial_docs import execution
    from cnn_tutorial_docs.notebook_source import read_notebook

    executor = execution.Executor(execution.Settings(root=tmp_path, cache_dir=tmp_path / "c"), logging.getLogger("t"))

    def key(page: str) -> str:
        return executor.key(read_notebook(page))

    base = key(notebook('s = """a\nb"""\nprint(s)'))
    assert key(notebook('# 注释\ns = """a\nb"""  # 注释\n\nprint(s)')) == base, "comments and blank lines between statements"
    assert key(notebook('s = """a\n\nb"""\nprint(s)')) != base, "a blank line inside a string is code"
    assert key(notebook('s = """a \nb"""\nprint(s)')) != base, "so is a trailing space inside a string"
    tagged = NOTEBOOK_HEADER + '# Page\n\n```python tags=["raises-exception"]\ns = """a\nb"""\nprint(s)\n```\n'
    assert key(tagged) != base, "cell tags change how a cell runs and renders"


def test_files_a_notebook_writes_are_published_next_to_its_page_and_cached(tmp_path):
    counter = tmp_path / "executions.txt"
    code = f"open({str(counter)!r}, 'a').write('run\\n')\nopen('model.json', 'w').write('{{\"weights\": [1, 2]}}')"
    site = make_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook(code)})
    for _ in range(2):
        result = build(site)
        assert result.returncode == 0, result.stderr
        assert (site / "site" / "nb" / "model.json").read_text() == '{"weights": [1, 2]}'
    assert counter.read_text().count("run") == 1, "the second build served the file from the cache"


@pytest.mark.slow
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


# ---------------------------------------------------------------- the executor: interrupts, concurrency, precise keys


def make_package_site(root: Path, pages: dict[str, str], modules: dict[str, str], **options) -> Path:
    """A site whose notebooks import modules of `tinypkg`; `options` go to the plugin."""
    make_site(root, pages)
    for name, text in modules.items():
        (root / "tinypkg" / name).write_text(text)
    settings = "".join(f"\n      {k}: {v}" for k, v in options.items())
    (root / "mkdocs.yml").write_text(
        f"site_name: test\nplugins:\n  - cnn-tutorial-notebooks:\n      packages: [tinypkg]{settings}\n"
    )
    return root


def counting(counter: Path, name: str, code: str) -> str:
    return f"open({str(counter)!r}, 'a').write({name!r} + '\\n')\n{code}"


def kernels_of(root: Path) -> list:
    """Live processes started for this site's build (the executor marks their environment)."""
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("CNN_TUTORIAL_DOCS_ROOT") == str(root) and process.status() != "zombie":
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.slow
def test_an_edit_to_one_module_re_executes_only_the_notebooks_that_imported_it(tmp_path):
    counter = tmp_path / "runs.txt"
    site = make_package_site(
        tmp_path,
        {
            "index.md": "# Home\n",
            "uses_a.md": notebook(counting(counter, "a", "from tinypkg import a\nprint('a is', a.A)")),
            "uses_b.md": notebook(counting(counter, "b", "from tinypkg import b\nprint('b is', b.B)")),
        },
        {"a.py": "A = 1\n", "b.py": "B = 2\n"},
    )
    assert build(site).returncode == 0
    assert sorted(counter.read_text().split()) == ["a", "b"]

    (site / "tinypkg" / "b.py").write_text("B = 3  # edited\n")
    result = build(site)
    assert result.returncode == 0, result.stderr
    assert sorted(counter.read_text().split()) == ["a", "b", "b"], "only the importer of b.py runs again"
    assert "Re-executing uses_b.md: tinypkg/b.py changed" in result.stderr, "the log says why"
    assert "b is 3" in page_html(site, "uses_b")
    assert "a is 1" in page_html(site, "uses_a")

    (site / "tinypkg" / "unused.py").write_text("C = 1\n")  # a new module nobody imports
    assert build(site).returncode == 0
    assert sorted(counter.read_text().split()) == ["a", "b", "b"]


@pytest.mark.slow
def test_a_module_edited_while_its_notebook_runs_is_executed_again_by_the_next_build(tmp_path):
    # `mkdocs serve`: the author saves a module while a chapter that imported it is still running
    counter, started = tmp_path / "runs.txt", tmp_path / "started"
    code = f"from tinypkg import a\nimport pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(5)\nprint('a is', a.A)"
    site = make_package_site(
        tmp_path / "site", {"index.md": "# Home\n", "nb.md": notebook(counting(counter, "nb", code))}, {"a.py": "A = 1\n"}
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    process = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(site / "mkdocs.yml")],
        cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    (site / "tinypkg" / "a.py").write_text("A = 22\n")
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    assert "a is 1" in page_html(site, "nb"), "the page shows what ran"

    result = build(site)
    assert result.returncode == 0, result.stderr
    assert counter.read_text().split() == ["nb", "nb"], "the outputs of the old module were not reused"
    assert "a is 22" in page_html(site, "nb")
    assert "tinypkg/a.py changed while it executed" in output, "and the first build said so"


@pytest.mark.slow
def test_modules_imported_by_a_process_the_notebook_starts_count_too(tmp_path):
    counter = tmp_path / "runs.txt"
    child = "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'import tinypkg.c; print(tinypkg.c.C)'], capture_output=True, text=True, check=True).stdout)"
    site = make_package_site(
        tmp_path, {"index.md": "# Home\n", "child.md": notebook(counting(counter, "child", child))}, {"c.py": "C = 5\n"}
    )
    assert build(site).returncode == 0
    (site / "tinypkg" / "c.py").write_text("C = 6\n")
    result = build(site)
    assert result.returncode == 0, result.stderr
    assert counter.read_text().split() == ["child", "child"], "like `torchrun -m cnn_tutorial`: the child's imports count"
    assert "6" in page_html(site, "child")


def test_the_kernel_environment_and_library_versions_are_part_of_the_key(tmp_path, monkeypatch):
    import logging

    from cnn_tutorial_docs import execution
    from cnn_tutorial_docs.notebook_source import read_notebook

    nb = read_notebook(notebook("print(1)"))

    def key(**changes):
        settings = execution.Settings(root=tmp_path, cache_dir=tmp_path / "c", **changes)
        return execution.Executor(settings, logging.getLogger("test")).key(nb)

    base = key(kernel_env={"CNN_TUTORIAL_DEVICE": "cpu"})
    assert key(kernel_env={"CNN_TUTORIAL_DEVICE": "cuda"}) != base
    assert key(kernel_env={"CNN_TUTORIAL_DEVICE": "cpu", "OMP_NUM_THREADS": "4"}) != base
    assert key(kernel_env={"CNN_TUTORIAL_DEVICE": "cpu"}) == base

    real = execution.installed_versions()
    assert "jieba" in real and "mplfonts" in real and "scipy" in real, "every distribution is keyed"
    monkeypatch.setattr(execution, "installed_versions", lambda: {**real, "jieba": "0.0.1"})
    assert key(kernel_env={"CNN_TUTORIAL_DEVICE": "cpu"}) != base


def test_the_kernel_environment_is_set_not_defaulted_nor_inherited(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_TUTORIAL_DEVICE", "cuda")  # as the installation chapter teaches
    monkeypatch.setenv("PYTHONWARNINGS", "error")  # would change outputs, and is not in the key
    code = "import os\nprint(os.environ['CNN_TUTORIAL_DEVICE'], os.environ.get('PYTHONWARNINGS', 'no-warnings-setting'))"
    site = make_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook(code)})
    env = dict(os.environ, PYTHONPATH=str(site))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(site / "mkdocs.yml")],
        cwd=site, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "cpu no-warnings-setting" in page_html(site, "nb") and "cuda" not in page_html(site, "nb")


def test_a_watched_package_imported_from_outside_its_folder_fails_clearly(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "tinypkg").mkdir(parents=True)
    (elsewhere / "tinypkg" / "__init__.py").write_text("VALUE = 'other copy'\n")
    code = f"import sys\nsys.path.insert(0, {str(elsewhere)!r})\nimport tinypkg\nprint(tinypkg.VALUE)"
    site = make_site(tmp_path / "site", {"index.md": "# Home\n", "nb.md": notebook(code)})
    result = build(site)
    assert result.returncode != 0, "a page that ran another copy of the package would never go stale"
    assert f"nb.md imported tinypkg from {elsewhere / 'tinypkg' / '__init__.py'}, not from {site / 'tinypkg'}" in result.stderr


def test_a_raising_cell_fails_the_build_and_is_reported_with_its_markdown_line(tmp_path):
    body = notebook("x = 1", "raise ValueError('boom 7')", "y = 2")
    site = make_site(tmp_path, {"index.md": "# Home\n", "bad.md": body})
    result = build(site)
    assert result.returncode != 0
    line = body.splitlines().index("raise ValueError('boom 7')") + 1
    assert f"bad.md:{line}: code cell 2 failed" in result.stderr
    assert "boom 7" in result.stderr


@pytest.mark.slow
def test_a_notebook_past_its_time_limit_is_stopped(tmp_path):
    site = make_package_site(
        tmp_path, {"index.md": "# Home\n", "slow.md": notebook("import time\ntime.sleep(120)")}, {}, notebook_timeout=4
    )
    started = time.monotonic()
    result = build(site)
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    assert "longer than the limit of 4 s" in result.stderr
    assert kernels_of(site) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_build_kills_the_kernels_and_keeps_what_finished(tmp_path):
    counter = tmp_path / "runs.txt"
    slow = "import time, pathlib\npathlib.Path({marker!r}).touch()\ntime.sleep(120)"
    site = make_package_site(
        tmp_path,
        {
            "index.md": "# Home\n",
            "a_fast.md": notebook(counting(counter, "fast", "print('quick')")),
            "b_slow.md": notebook(slow.format(marker=str(tmp_path / "b.started"))),
            "c_slow.md": notebook(slow.format(marker=str(tmp_path / "c.started"))),
            "d_queued.md": notebook(counting(counter, "queued", "print('never')")),
        },
        {},
        workers=2,
    )
    # the order the executor takes them in (longest first by an earlier build's durations): the
    # fast one finishes while the slow ones run, the last one is still queued at Ctrl-C
    (site / ".cache" / "notebooks").mkdir(parents=True)
    (site / ".cache" / "notebooks" / "durations.json").write_text(
        json.dumps({"a_fast.md": 4.0, "b_slow.md": 3.0, "c_slow.md": 2.0, "d_queued.md": 1.0}))
    env = dict(os.environ, PYTHONPATH=str(site))
    process = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "build", "-f", str(site / "mkdocs.yml")],
        cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    entries = site / ".cache" / "notebooks" / "entries"
    while time.monotonic() < deadline:
        done = list(entries.glob("*.json")) if entries.exists() else []
        if done and (tmp_path / "b.started").exists():
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the build never reached the point of the test: " + (process.stdout.read() or ""))
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the build went on for more than 10 s after Ctrl-C")
    assert process.returncode != 0
    assert time.monotonic() - interrupted < 10
    time.sleep(0.5)
    assert kernels_of(site) == [], "no kernel outlives the build"
    assert counter.read_text().split() == ["fast"], "queued notebooks never start after Ctrl-C"

    # the finished notebook is not executed again by the next build
    for name in ("b_slow.md", "c_slow.md"):
        (site / "docs" / name).write_text(notebook("print('now quick')"))
    result = build(site)
    assert result.returncode == 0, result.stderr
    assert counter.read_text().split() == ["fast", "queued"]


@pytest.mark.slow
def test_two_builds_at_once_both_succeed_and_execute_a_notebook_once(tmp_path):
    counter = tmp_path / "runs.txt"
    site = make_site(
        tmp_path,
        {"index.md": "# Home\n", "nb.md": notebook(counting(counter, "nb", "import time\ntime.sleep(3)\nprint('shared 42')"))},
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(site / "mkdocs.yml"), "-d", str(site / out)],
            cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for out in ("site_one", "site_two")
    ]
    outputs = [b.communicate(timeout=300)[0] for b in builds]
    assert [b.returncode for b in builds] == [0, 0], outputs
    assert counter.read_text().split() == ["nb"], "the second build waited for the first one's execution"
    for out in ("site_one", "site_two"):
        assert "shared 42" in (site / out / "nb" / "index.html").read_text()
    assert not list((site / ".cache" / "notebooks" / "entries").glob("*.tmp"))


# ---------------------------------------------------------------- where the checkout lives does not matter


def long_folder(tmp_path: Path) -> Path:
    """A folder whose path is at least 150 characters long, with a space and Chinese characters."""
    folder = tmp_path / "卷积 网络 教程"
    folder = folder / ("a checkout " + "x" * max(1, 150 - len(str(folder)) - 11))
    assert len(str(folder)) >= 150
    return folder


@pytest.mark.slow
def test_a_spawned_dataloader_worker_runs_in_a_checkout_with_a_long_path(tmp_path):
    # multiprocessing's Unix sockets (a socket path may not exceed 107 bytes) live in the chapter's
    # temporary folder: it must not be under the checkout, or the worker's batch is never sent
    code = (
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        "data = TensorDataset(torch.arange(6.0).reshape(3, 2))\n"
        "loader = DataLoader(data, batch_size=3, num_workers=1, multiprocessing_context='spawn', timeout=60)\n"
        "print('batch sum', int(next(iter(loader))[0].sum()))\n"
        "import tempfile\nprint('temporary folder', tempfile.gettempdir())"
    )
    site = make_package_site(long_folder(tmp_path), {"index.md": "# Home\n", "nb.md": notebook(code)}, {})
    result = build(site)
    assert result.returncode == 0, result.stderr
    html = page_html(site, "nb")
    assert "batch sum 15" in html
    temporary = Path(html.split("temporary folder ", 1)[1].split("<", 1)[0])
    assert not temporary.is_relative_to(site), "a chapter's temporary files are not under the checkout"
    assert not temporary.exists(), "and they do not outlive its run"


CHILD_IMPORTS = Path(__file__).parents[1] / "tooling" / "cnn_tutorial_docs" / "child_imports"


def test_collection_works_where_python_has_imported_a_sitecustomize_at_start_up(tmp_path):
    # Debian's and Ubuntu's own Pythons import a sitecustomize of their own at start-up
    (tmp_path / "sitecustomize.py").write_text("")
    root = Path(__file__).parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(CHILD_IMPORTS.parent)],
        cwd=root, env=dict(os.environ, PYTHONPATH=str(tmp_path)), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "sitecustomize" not in result.stdout


def test_the_child_import_hook_starts_cleanly_and_writes_its_record(tmp_path):
    # -S: nothing from site-packages (an editable install's finder) has imported importlib.machinery
    code = f"import sys; sys.path.insert(0, {str(CHILD_IMPORTS)!r}); import sitecustomize, json"
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        env=dict(os.environ, CNN_TUTORIAL_DOCS_IMPORTS=str(tmp_path)), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    (record,) = tmp_path.iterdir()
    assert record.name.startswith("imports-") and record.suffix == ".json"
    assert ["json", str(Path(json.__file__))] in json.loads(record.read_text())


# ---------------------------------------------------------------- housekeeping beside other builds


def make_executor(root: Path, **settings):
    import logging

    from cnn_tutorial_docs import execution

    return execution.Executor(
        execution.Settings(root=root, cache_dir=root / ".cache" / "notebooks", **settings), logging.getLogger("test")
    )


def test_prune_survives_a_concurrent_build_and_clears_what_killed_builds_left(tmp_path, monkeypatch):
    from filelock import FileLock

    from cnn_tutorial_docs import execution

    executor = make_executor(tmp_path, prune_days=1)
    old = time.time() - 3 * 86400
    for folder in (executor.entries, executor.locks, executor.work / "rnn-abc"):
        folder.mkdir(parents=True)
    stale_entry, kept_entry = executor.entries / "stale.json", executor.entries / "kept.json"
    for path in (stale_entry, kept_entry, executor.locks / "stale.lock", executor.locks / "kept.lock",
                 executor.locks / "held.lock", executor.settings.cache_dir / "x.tmp"):
        path.write_text("{}")
        os.utime(path, (old, old))
    os.utime(executor.work / "rnn-abc", (old, old))
    private = Path(execution._temp_root()) / (execution._PRIVATE_PREFIX + f"test{os.getpid()}")
    private.mkdir()
    os.utime(private, (old, old))
    executor.used.add("kept")

    vanished = executor.entries / "renamed-by-another-build.json"  # listed, then gone before stat()
    real_glob = Path.glob
    monkeypatch.setattr(Path, "glob", lambda self, pattern: [*real_glob(self, pattern), vanished])
    held = FileLock(str(executor.locks / "held.lock"))
    held.acquire()
    try:
        assert executor.prune() == ["stale"]
    finally:
        held.release()
    monkeypatch.undo()
    assert not stale_entry.exists() and kept_entry.exists()
    assert sorted(p.name for p in executor.locks.iterdir()) == ["held.lock", "kept.lock"], "held or with an entry"
    assert not (executor.work / "rnn-abc").exists() and not (executor.settings.cache_dir / "x.tmp").exists()
    assert not private.exists()


def test_a_duration_that_cannot_be_recorded_does_not_fail_the_notebook(tmp_path, monkeypatch):
    from filelock import Timeout

    from cnn_tutorial_docs import execution

    class Busy:
        def __init__(self, path, timeout=None):
            self.path = path

        def __enter__(self):
            raise Timeout(self.path)

        def __exit__(self, *_):
            return False

    monkeypatch.setattr(execution, "FileLock", Busy)
    make_executor(tmp_path)._record_duration("docs/zh/rnn.md", 1.0)  # logged, not raised


def test_a_run_started_while_handling_an_exception_still_records_its_dependencies(tmp_path):
    from cnn_tutorial_docs.execution import Job
    from cnn_tutorial_docs.notebook_source import read_notebook

    make_site(tmp_path, {})
    executor = make_executor(tmp_path, packages=["tinypkg"])
    page = notebook("import tinypkg\nprint(tinypkg.VALUE)")
    nb = read_notebook(page)
    try:
        raise ValueError("a caller inside an except block")
    except ValueError:
        execution = executor.execute(Job(executor.key(nb), nb, {"nb.md": page}))
    assert list(execution.dependencies) == ["tinypkg/__init__.py"]


# ---------------------------------------------------------------- the plugin's switches and rendering


@pytest.mark.slow
def test_enabled_false_renders_code_without_executing_and_cache_false_always_executes(tmp_path):
    counter = tmp_path / "runs.txt"
    page = notebook(counting(counter, "nb", "print('out', 6 * 7)"))
    site = make_package_site(tmp_path / "off", {"index.md": "# Home\n", "nb.md": page}, {}, enabled="false")
    result = build(site)
    assert result.returncode == 0, result.stderr
    assert not counter.exists() and "out 42" not in page_html(site, "nb") and "6 * 7" in page_html(site, "nb")

    site = make_package_site(tmp_path / "nocache", {"index.md": "# Home\n", "nb.md": page}, {}, cache="false")
    for _ in range(2):
        result = build(site)
        assert result.returncode == 0, result.stderr
        assert "out 42" in page_html(site, "nb")
    assert counter.read_text().split() == ["nb", "nb"]
    assert not (site / ".cache" / "notebooks" / "entries").exists()


def test_no_pruning_under_mkdocs_serve(tmp_path):
    from cnn_tutorial_docs import notebooks

    pruned = []
    plugin = notebooks.NotebooksPlugin()
    plugin.notebooks, plugin.texts = {}, {}
    plugin.executor = make_executor(tmp_path)
    plugin.executor.prune = lambda: pruned.append(True)
    for command in ("serve", "build"):
        plugin.on_startup(command=command, dirty=False)
        plugin.execute_all()
    assert pruned == [True], "pruned by the build only"
    notebooks._STARTED["serve"] = False


def test_the_execution_note_goes_under_the_title_never_into_code(tmp_path):
    code = "# 一个注释, not a title\nprint(6 * 7)"
    site = make_site(tmp_path, {"index.md": "# Home\n", "a.md": notebook(code, prose="No title yet.\n")})
    result = build(site)
    assert result.returncode == 0, result.stderr
    html = page_html(site, "a")
    note = html.index("ran when the site was built")
    assert note < html.index("No title yet"), "no title: the note goes first"
    assert "ran when the site was built" not in html[html.index("<pre") :]


WHEEL_SITE = """\
site_name: test
extra:
  repository: https://example.org/tinypkg
plugins:
  - cnn-tutorial-notebooks:
      packages: [tinypkg]
      use_published_wheel: true
  - cnn-tutorial-links:
      sources: [tinypkg, pyproject.toml]
"""
WHEEL_PROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "tinypkg"
version = "1.0"
[tool.setuptools]
packages = ["tinypkg"]
"""


@pytest.mark.slow
def test_use_published_wheel_runs_notebooks_with_only_the_wheel_installed(tmp_path):
    counter = tmp_path / "runs.txt"
    code = counting(counter, "run", textwrap.dedent("""\
        import subprocess, sys, tinypkg
        print("value is", tinypkg.VALUE)
        print("kernel imports the wheel:", sys.prefix != sys.base_prefix and tinypkg.__file__.startswith(sys.prefix))
        child = "import sys, tinypkg; print(tinypkg.__file__.startswith(sys.prefix))"
        print("python in a notebook imports the wheel:", subprocess.run(["python", "-c", child], capture_output=True, text=True).stdout.strip())"""))
    site = make_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook(code)}, package_value=1)
    (site / "mkdocs.yml").write_text(WHEEL_SITE)
    (site / "pyproject.toml").write_text(WHEEL_PROJECT)

    first = build(site)
    assert first.returncode == 0, first.stderr
    html = page_html(site, "nb")
    assert "value is 1" in html
    assert "kernel imports the wheel: True" in html and "python in a notebook imports the wheel: True" in html, html
    [published] = (site / "site" / "packages").glob("tinypkg-1.0-*.whl")
    [environment] = (site / ".cache" / "notebooks" / "wheel-env").glob("*/.complete")
    assert environment.read_text().strip().endswith(published.name)

    assert build(site).returncode == 0
    assert counter.read_text().split() == ["run"], "an unchanged build reuses the outputs"

    (site / "tinypkg" / "__init__.py").write_text("VALUE = 2\n")
    edited = build(site)
    assert edited.returncode == 0, edited.stderr
    assert "Re-executing nb.md: tinypkg/__init__.py changed" in edited.stderr
    assert "value is 2" in page_html(site, "nb"), "an edited package is a new wheel, installed for the next run"
    assert counter.read_text().split() == ["run", "run"]


def test_use_published_wheel_without_the_links_plugin_says_what_is_missing(tmp_path):
    site = make_package_site(tmp_path, {"index.md": "# Home\n", "nb.md": notebook("print(1)")}, {},
                             use_published_wheel="true")
    result = build(site)
    assert result.returncode != 0
    assert "use_published_wheel needs the cnn-tutorial-links plugin" in result.stderr, result.stderr


def test_the_wheel_build_reports_a_busy_lock_as_a_plugin_error(tmp_path, monkeypatch):
    from filelock import Timeout
    from mkdocs.exceptions import PluginError

    from cnn_tutorial_docs import site_links

    class Busy:
        def __init__(self, path, timeout=None):
            self.path = path

        def __enter__(self):
            raise Timeout(self.path)

        def __exit__(self, *_):
            return False

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    plugin = site_links.SiteLinksPlugin()
    plugin.load_config({"sources": ["pkg"]})
    monkeypatch.setattr(site_links, "FileLock", Busy)
    with pytest.raises(PluginError, match="another build"):
        plugin.build_wheel(tmp_path)

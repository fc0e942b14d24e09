"""Shared fixtures: one strict site build per test session, a local server, and the machine checks.

A test that needs CUDA or torch's gloo backend is skipped on a machine
without it; with `REQUIRE_CUDA=1` or `REQUIRE_GLOO=1` in the environment
the skip becomes a failure, so a machine that should have them proves it.
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_URL = "https://cnn-tutorial.example/"


def skip_or_fail(reason: str, switch: str) -> None:
    """Skip the test, or fail it when the environment variable `switch` is `1`."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason}, and {switch}=1 says this machine must have it")
    pytest.skip(f"{reason} (set {switch}=1 to make this a failure)")


@pytest.fixture(scope="session")
def needs_gloo() -> None:
    """Skip (or, with REQUIRE_GLOO=1, fail) unless torch has the gloo backend of CPU multi-process training."""
    if not dist.is_available() or not dist.is_gloo_available():
        skip_or_fail("this torch build has no gloo backend, which CPU-only distributed training needs", "REQUIRE_GLOO")


@pytest.fixture(scope="session")
def needs_cuda() -> None:
    """Skip (or, with REQUIRE_CUDA=1, fail) unless a CUDA device is present."""
    if not torch.cuda.is_available():
        skip_or_fail("no CUDA device on this machine", "REQUIRE_CUDA")


# ---------------------------------------------------------------- the site build and what runs beside the suite
#
# The site build, the reader's journey and the every-page browser check take minutes each, mostly
# in other processes. So the build starts in the background as soon as collection is done (when a
# collected test needs the site), the tests that need no site run meanwhile (the root conftest.py
# orders them first), and the moment the build is done the journey and the every-page check start,
# beside the rest of the suite; the tests that read their reports come last.

_BACKGROUND: dict = {}
# The chapters whose downloaded notebooks the reader's journey runs again (the site build ran every
# chapter with the wheel already): their printed text must be the page's (tests/test_determinism.py).
# Three once printed different numbers on each run; loading-data starts a spawned DataLoader worker
# from the reader's folder; installation prints the device.
JOURNEY_CHAPTERS = ("rnn", "math-building-blocks", "linear-regression", "loading-data", "installation")


def _needed(session, fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in session.items)


def pytest_collection_finish(session):
    if not _needed(session, "site"):
        return
    folder = Path(tempfile.mkdtemp(prefix="cnn-tutorial-tests-"))
    wanted = {name: _needed(session, name) for name in ("reader_journey", "every_page_report")}
    thread = threading.Thread(target=_build_then_start, args=(folder, wanted), name="site-build", daemon=True)
    _BACKGROUND.update(folder=folder, thread=thread, processes={})
    thread.start()


def _build_then_start(folder: Path, wanted: dict) -> None:
    """Build the site exactly as `make docs` does (strict), then start what reads it."""
    out = folder / "site"
    build = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "SITE_URL": PUBLISHED_URL},  # as a published build: the sitemap must not say 127.0.0.1
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _BACKGROUND["build_process"] = build
    try:
        stdout, stderr = build.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(build.pid, 9)
        stdout, stderr = build.communicate()
        stderr += "\nthe site build took more than 900 s"
    _BACKGROUND["build"] = subprocess.CompletedProcess(build.args, build.returncode, stdout, stderr)
    if build.returncode != 0:
        return
    if wanted["reader_journey"]:
        wheels = _BACKGROUND["wheels"] = list((out / "packages").glob("cnn_tutorial-*.whl"))
        if len(wheels) == 1:  # else the site fixture says what it found
            _start("reader_journey", folder / "journey", [
                str(ROOT / "tests" / "reader_journey.py"), str(wheels[0]), str(out / "en"), str(ROOT / "README.md"),
                "{workdir}", "{report}", "--chapters", ",".join(JOURNEY_CHAPTERS),
                # at a lower priority: the suite's own tests keep their pace, the journey takes what they leave
                "--workers", "1", "--nice", "10"])
    if wanted["every_page_report"]:
        _start("every_page_report", folder / "every-page", [str(ROOT / "tests" / "every_page.py"), str(out), "{report}"])


def _start(name: str, workdir: Path, arguments: list[str]) -> None:
    workdir.mkdir()
    report, log = workdir / "report.json", workdir / "log.txt"
    command = [sys.executable, *(a.replace("{workdir}", str(workdir)).replace("{report}", str(report)) for a in arguments)]
    _BACKGROUND["processes"][name] = (
        subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True), report, log)


def _report(name: str) -> dict:
    """Wait for the background process `name` and return its JSON report."""
    if name not in _BACKGROUND["processes"]:
        pytest.fail(f"{name} was not started (did the site build fail?)")
    process, report, log = _BACKGROUND["processes"][name]
    try:
        process.wait(timeout=1800)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        pytest.fail(f"{name} took over 30 minutes; its log: {log}")
    assert process.returncode == 0, log.read_text()[-5000:]
    return json.loads(report.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def site() -> Path:
    """The site built with `mkdocs build --strict`, exactly as `make docs` builds it (in the background
    from the end of collection on)."""
    _BACKGROUND["thread"].join(timeout=1000)
    result = _BACKGROUND.get("build")
    assert result is not None, "the site build did not finish within 1000 s"
    assert result.returncode == 0, result.stderr[-5000:]
    wheels = _BACKGROUND.get("wheels")
    assert wheels is None or len(wheels) == 1, f"the site publishes one wheel, found {wheels}"
    return _BACKGROUND["folder"] / "site"


@pytest.fixture(scope="session")
def reader_journey(site) -> dict:
    """The report of tests/reader_journey.py: the published wheel, its command line and some notebooks."""
    return _report("reader_journey")


@pytest.fixture(scope="session")
def every_page_report(site) -> dict:
    """The report of tests/every_page.py: every page in Chromium on a phone-sized screen, with axe-core."""
    return _report("every_page_report")


def pytest_sessionfinish(session):
    running = [process for process, _, _ in _BACKGROUND.get("processes", {}).values()]
    for process in [_BACKGROUND.get("build_process"), *running]:
        if process is not None and process.poll() is None:  # a session stopped early leaves nothing running
            os.killpg(process.pid, 9)
    folder = _BACKGROUND.get("folder")
    if folder is not None and not session.testsfailed:
        shutil.rmtree(folder, ignore_errors=True)  # kept after a failure, to look at


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(site):
    """The built site served over HTTP on 127.0.0.1 (a free port)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()

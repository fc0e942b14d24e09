"""Shared fixtures: one strict site build per test session, a local server, and the machine checks.

A test that needs CUDA or torch's gloo backend is skipped on a machine
without it; with `REQUIRE_CUDA=1` or `REQUIRE_GLOO=1` in the environment
the skip becomes a failure, so a machine that should have them proves it.
"""

import functools
import http.server
import json
import os
import subprocess
import sys
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


@pytest.fixture(scope="session")
def site(request, tmp_path_factory) -> Path:
    """The site built with `mkdocs build --strict`, exactly as `make docs` builds it.

    When the session will check the reader's journey (tests/test_wheel.py), it starts
    right after the build, in the background (see `reader_journey`).
    """
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "SITE_URL": PUBLISHED_URL},  # as a published build: the sitemap must not say 127.0.0.1
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    if any("reader_journey" in getattr(item, "fixturenames", ()) for item in request.session.items):
        _start_reader_journey(out, tmp_path_factory)
    return out


_JOURNEY: dict = {}
# The chapters whose downloaded notebooks the reader's journey runs again (the site build ran every
# chapter with the wheel already): their printed text must be the page's (tests/test_determinism.py).
# Three once printed different numbers on each run; loading-data starts a spawned DataLoader worker
# from the reader's folder; installation prints the device.
JOURNEY_CHAPTERS = ("rnn", "math-building-blocks", "linear-regression", "loading-data", "installation")


def _start_reader_journey(site: Path, tmp_path_factory) -> None:
    """Start tests/reader_journey.py on the built site's wheel and English notebooks, in the background."""
    wheels = list((site / "packages").glob("cnn_tutorial-*.whl"))
    assert len(wheels) == 1, f"the site publishes one wheel, found {wheels}"
    workdir = tmp_path_factory.mktemp("journey")
    report = workdir / "report.json"
    log = (workdir / "journey.log").open("w")
    command = [sys.executable, str(ROOT / "tests" / "reader_journey.py"), str(wheels[0]), str(site / "en"),
               str(ROOT / "README.md"), str(workdir), str(report),
               "--chapters", ",".join(JOURNEY_CHAPTERS),
               # at a lower priority: the suite's own tests keep their pace, the journey takes what they leave
               "--workers", "1", "--nice", "10"]
    _JOURNEY.update(process=subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                    report=report, log=workdir / "journey.log")


@pytest.fixture(scope="session")
def reader_journey(site) -> dict:
    """The report of tests/reader_journey.py: the published wheel, its command line and some notebooks.

    It runs beside the rest of the suite (the site fixture starts it); the tests
    that read it are moved to the end of the session (the root conftest.py).
    """
    process = _JOURNEY["process"]
    try:
        process.wait(timeout=1800)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        pytest.fail(f"the reader's journey took over 30 minutes; its log: {_JOURNEY['log']}")
    assert process.returncode == 0, _JOURNEY["log"].read_text()[-5000:]
    return json.loads(_JOURNEY["report"].read_text(encoding="utf-8"))


@pytest.fixture(scope="session", autouse=True)
def _stop_reader_journey():
    yield
    process = _JOURNEY.get("process")
    if process is not None and process.poll() is None:  # a session stopped early leaves no journey running
        os.killpg(process.pid, 9)


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

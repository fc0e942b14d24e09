"""Shared fixtures: one strict site build per test session, a local server, and the machine checks.

A test that needs CUDA or torch's gloo backend is skipped on a machine
without it; with `REQUIRE_CUDA=1` or `REQUIRE_GLOO=1` in the environment
the skip becomes a failure, so a machine that should have them proves it.
"""

import functools
import http.server
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
def site(tmp_path_factory) -> Path:
    """The site built with `mkdocs build --strict`, exactly as `make docs` builds it."""
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
    return out


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

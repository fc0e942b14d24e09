"""Where the browser tests find Chromium, and what they do on a machine without it."""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
INSTALL = "apt-get install chromium (as root), or set CHROMIUM=/path/to/chromium"


def require_chromium(tests: str) -> None:
    """Skip the calling test module when Chromium is missing, or fail where REQUIRE_BROWSER=1 says it must be there.

    Call it at the top of a test module, before importing Playwright.
    """
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}; {INSTALL}")
    pytest.skip(f"{tests} skipped: no Chromium at {CHROMIUM}; {INSTALL}", allow_module_level=True)

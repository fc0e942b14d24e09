"""Execute a chapter twice and compare what it printed: seeded examples must give the same text.

Used by tests/test_determinism.py (a few chapters, in `make test`) and by
`make bench` (`python tests/bench.py --only determinism`: every chapter).
Timings differ between runs by nature, so a line that reports a duration
or a speed is compared with its numbers masked; everything else must match
character for character.
"""

from __future__ import annotations

import difflib
import logging
import re
from pathlib import Path

from cnn_tutorial_docs.execution import Job
from cnn_tutorial_docs.notebook_source import read_notebook
from cnn_tutorial_docs.run_page import load_executor

ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(
    r"\b(s|ms|µs|sec|seconds?|秒|img/s|images?/s|samples?/s|it/s|steps?/s|speed ?up|slower|faster)\b|×|time",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")


def printed_text(execution) -> str:
    """The text outputs of an execution, timing lines masked (figures are not compared)."""
    parts = []
    for number, outputs in enumerate(execution.outputs, start=1):
        for output in outputs:
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            if output.get("data", {}).get("image/png"):
                continue
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                parts.append(f"[{number}] " + (NUMBER.sub("#", line) if TIMING.search(line) else line))
    return "\n".join(parts)


def compare_two_runs(page: Path) -> list[str]:
    """Execute `page` twice without the cache; the lines of difference (empty when identical)."""
    executor = load_executor(ROOT / "mkdocs.yml")
    executor.log = logging.getLogger("determinism")
    text = page.read_text(encoding="utf-8")
    notebook = read_notebook(text)
    job = Job(executor.key(notebook), notebook, {str(page): text})
    first, second = (printed_text(executor.execute(job)) for _ in range(2))
    return [line for line in difflib.unified_diff(first.splitlines(), second.splitlines(), lineterm="", n=0)]

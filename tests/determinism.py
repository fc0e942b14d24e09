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
    r"\b(s|ms|µs|sec|seconds?|秒|img/s|images?/s|samples?/s|\w*per_s|it/s|steps?/s|speed ?up|slower|faster)\b|×|time",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")


def printed_text(execution) -> str:
    """The text outputs of an execution, timings masked (figures are not compared).

    A cell's text is taken whole (a print may reach the notebook in several
    pieces), then each line that reports a duration or speed has its numbers
    masked, and so do the numbers of a table column whose header does.
    """
    parts = []
    for number, outputs in enumerate(execution.outputs, start=1):
        text = ""
        for output in outputs:
            if output.get("data", {}).get("image/png"):
                continue
            piece = output.get("text") or output.get("data", {}).get("text/plain", "")
            piece = "".join(piece) if isinstance(piece, list) else piece
            if output.get("output_type") != "stream" and not piece.endswith("\n"):
                piece += "\n"  # a displayed value is a line of its own; printed text joins up as printed
            text += piece
        columns: list[tuple[int, int]] = []  # character spans of timing columns, from the last header
        for line in text.splitlines():
            if TIMING.search(line) and not NUMBER.search(line.split("time")[-1] if "time" in line else line):
                fields = list(re.finditer(r"\S+(?: \S+)*", line))  # header fields are two or more spaces apart
                timed = [m for m in fields if TIMING.search(m.group(0))]
                names = {m.group(0).split()[0] for m in timed}
                # a ratio of two timing columns ("GRU / TCN" next to "GRU (ms)" and "TCN (ms)") is a timing too
                ratios = [m for m in fields if re.fullmatch(r"(\S+) / (\S+)", m.group(0))
                          and set(m.group(0).split(" / ")) <= names]
                columns = [(m.start(), m.end()) for m in timed + ratios]
            masked = NUMBER.sub("#", line) if TIMING.search(line) else _mask_columns(line, columns)
            parts.append(f"[{number}] {masked}")
    return "\n".join(parts)


def _mask_columns(line: str, columns: list[tuple[int, int]]) -> str:
    """Mask the numbers that sit under a timing column's header."""
    for match in reversed(list(NUMBER.finditer(line))):
        if any(match.start() < end and match.end() > start for start, end in columns):
            line = line[: match.start()] + "#" + line[match.end():]
    return line


def compare_two_runs(page: Path) -> list[str]:
    """Execute `page` twice without the cache; the lines of difference (empty when identical)."""
    executor = load_executor(ROOT / "mkdocs.yml")
    executor.log = logging.getLogger("determinism")
    text = page.read_text(encoding="utf-8")
    notebook = read_notebook(text)
    job = Job(executor.key(notebook), notebook, {str(page): text})
    first, second = (printed_text(executor.execute(job)) for _ in range(2))
    return [line for line in difflib.unified_diff(first.splitlines(), second.splitlines(), lineterm="", n=0)]

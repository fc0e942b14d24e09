"""Execute a chapter twice and compare what it printed: seeded examples must give the same text.

`printed_text` is used by tests/test_determinism.py (every chapter: the site
build's outputs against the reader's journey's run, in `make test`);
`compare_two_runs` by `make bench-determinism` (every chapter executed twice).
Timings differ between runs by nature, so the numbers that are durations,
speeds or speed ratios (attached to their unit, or under a table header that
names one) are masked; everything else, other numbers on the same line
included, must match character for character.
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
NUMBER = r"\d+(?:[.,]\d+)*(?:e[-+]?\d+)?"
# a number attached to a unit of time or speed ("0.44 s", "5.72 ms", "10798 samples/s", "3.6 秒"),
# a measured ratio ("11× faster", "0.27×", "4x": no digit after it, unlike 3×3), or a timing key's value
TIMED = re.compile(
    rf"{NUMBER}(?:\s?(?:ms|µs|s|sec|seconds?|min)(?![\w=])|\s?秒|\s?[A-Za-z]+/s\b|[×x](?![\w(]))"
    rf"|(?<=\"seconds\": ){NUMBER}|(?<=_per_s\": ){NUMBER}|(?<=_seconds\": ){NUMBER}"
)
# a table header's timing column: "time (s)", "TCN (ms)", "images/s", "ms/step", "whole command, s"
COLUMN = re.compile(r"(?<=\s)\((?:s|ms|µs|秒)\)|\w/s\b|\bms/\w|(?:^|,\s)s$|秒")


def mask_timings(line: str) -> str:
    """`line` with every measured duration, speed and speed ratio replaced by `#`; other numbers kept.

    Examples:
        >>> mask_timings("in memory   num_workers=0: 0.00 s, 0.01 s   same order: True")
        'in memory   num_workers=0: #, #   same order: True'
        >>> mask_timings("ConvNet   test accuracy  90.6%   (3.6 s)")
        'ConvNet   test accuracy  90.6%   (#)'
        >>> mask_timings("epoch 2/4  test_acc 82.67%  0.1 s  13586 samples/s")
        'epoch 2/4  test_acc 82.67%  #  #'
        >>> mask_timings("recursive 0.113 s | level by level 0.010 s | 11× faster; speed-up 0.27×; GRU 18x")
        'recursive # | level by level # | # faster; speed-up #; GRU #'
        >>> mask_timings('"samples_per_s": 3703.41, "seconds": 0.36, "epochs": 2')
        '"samples_per_s": #, "seconds": #, "epochs": 2'

        Numbers that are not timings stay, on lines that also hold a timing or a time word:

        >>> mask_timings("three 3×3 convolutions: 6,960 parameters; 1 × Conv2d(7×7); 56,641,536 parameters, 112,384 times as many")
        'three 3×3 convolutions: 6,960 parameters; 1 × Conv2d(7×7); 56,641,536 parameters, 112,384 times as many'
        >>> mask_timings("k=3 s=1 p=0: formula 30; largest difference of a class's share: 0.0017; 0.64 s")
        "k=3 s=1 p=0: formula 30; largest difference of a class's share: 0.0017; #"
    """
    return TIMED.sub("#", line)


def printed_text(execution) -> str:
    """The text outputs of an execution, timings masked (figures are not compared).

    A cell's text is taken whole (a print may reach the notebook in several
    pieces), then the numbers of each line that are measured durations or
    speeds are masked (`mask_timings`), and so are the numbers of a table
    column whose header names a unit of time. Runs of spaces count as one:
    a masked number's width must not decide.

    Examples:
        >>> from types import SimpleNamespace
        >>> table = (
        ...     "                     images/s  ms/step  whole command, s\\n"
        ...     "1 process  (1 thread)   40469     1.51               4.9\\n"
        ...     "2 processes              9804    10.20              14.6\\n"
        ...     "speed-up of 2 processes: 0.30x, 22 steps\\n")
        >>> print(printed_text(SimpleNamespace(outputs=[[{"output_type": "stream", "text": table}]])))
        [1] images/s ms/step whole command, s
        [1] 1 process (1 thread) # # #
        [1] 2 processes # # #
        [1] speed-up of 2 processes: #, 22 steps
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
        header: list[re.Match] = []  # the fields of the last header that named a unit of time
        columns: list[tuple[int, int]] = []  # character spans of its timing columns
        for line in text.splitlines():
            fields = list(re.finditer(r"\S+(?: \S+)*", line))  # header fields are two or more spaces apart
            timed = [m for m in fields if COLUMN.search(m.group(0))]
            if timed and not re.search(r"\d", line):  # a header
                header = fields
                names = {m.group(0).split()[0] for m in timed}
                # a ratio of two timing columns ("GRU / TCN" next to "GRU (ms)" and "TCN (ms)") is a timing too
                ratios = [m for m in fields if re.fullmatch(r"(\S+) / (\S+)", m.group(0))
                          and set(m.group(0).split(" / ")) <= names]
                columns = [(m.start(), m.end()) for m in timed + ratios]
            row = _mask_columns(line, columns) if _a_row_of(header, fields) else line
            parts.append(f"[{number}] {' '.join(mask_timings(row).split())}")
    return "\n".join(parts)


def _a_row_of(header: list[re.Match], fields: list[re.Match]) -> bool:
    """Whether a line's fields are a row of the table under `header`: its last fields sit under the
    header's, one each (a row may start with a label the header leaves blank)."""
    if not header or len(fields) < len(header):
        return False
    return all(f.start() < h.end() and f.end() > h.start() for f, h in zip(fields[-len(header):], header))


def _mask_columns(line: str, columns: list[tuple[int, int]]) -> str:
    """Mask the numbers that sit under a timing column's header."""
    for match in reversed(list(re.finditer(NUMBER, line))):
        if any(match.start() < end and match.end() > start for start, end in columns):
            line = line[: match.start()] + "#" + line[match.end():]
    return line


def compare_two_runs(page: Path) -> list[str]:
    """Execute `page` afresh and compare with another execution; the lines of difference (empty when identical).

    The other execution is the build cache's entry when there is one (the site build has just
    made it: the same power as two fresh runs, at half the cost), else a second fresh run.
    """
    executor = load_executor(ROOT / "mkdocs.yml")
    executor.log = logging.getLogger("determinism")
    text = page.read_text(encoding="utf-8")
    notebook = read_notebook(text)
    job = Job(executor.key(notebook), notebook, {str(page): text})
    cached = executor.lookup(job.key)
    first = printed_text(cached if cached is not None else executor.execute(job))
    second = printed_text(executor.execute(job))
    return [line for line in difflib.unified_diff(first.splitlines(), second.splitlines(), lineterm="", n=0)]

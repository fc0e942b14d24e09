"""A reader who runs a chapter's notebook sees the numbers the page shows (timings aside).

Chapters once did not print the same text twice: rnn printed statistics of an
unseeded tensor, math-building-blocks float64 noise digits, linear-regression
an intercept that moved in its fourth decimal. The reader's journey
(tests/reader_journey.py) executes those chapters' downloaded notebooks again
(`JOURNEY_CHAPTERS` in conftest.py), in another process, another folder, an
environment with only the wheel and none of the build's settings (no fixed
hash seed); the notebook file carries the outputs of the site build. Here the
two are compared. `make bench-determinism` executes every chapter twice.
"""

import json
from types import SimpleNamespace

from determinism import printed_text


def test_every_notebook_prints_what_its_page_shows(reader_journey):
    differences = {}
    for chapter, result in sorted(reader_journey["notebooks"].items()):
        assert result["ok"], f"{chapter} did not run: see test_every_downloaded_notebook_runs_from_the_wheel"
        outputs = json.loads(open(result["compared"], encoding="utf-8").read())
        assert len(outputs["built"]) == len(outputs["fresh"]) == result["cells"], chapter
        built, fresh = (printed_text(SimpleNamespace(outputs=outputs[key])) for key in ("built", "fresh"))
        assert built.strip(), f"{chapter}: the downloaded notebook has no printed output to compare"
        if built != fresh:
            lines = [f"  site:   {a}\n  reader: {b}" for a, b in zip(built.splitlines(), fresh.splitlines()) if a != b]
            differences[chapter] = "\n".join(lines[:8]) or "  (a different number of lines)"
    assert not differences, "printed differently by the reader's run than on the page:\n" + "\n".join(
        f"{chapter}:\n{text}" for chapter, text in differences.items())

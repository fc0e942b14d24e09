"""Two executions of a chapter print the same text (timings aside).

These chapters once did not: rnn printed statistics of an unseeded tensor,
math-building-blocks float64 noise digits, linear-regression an intercept that
moved in its fourth decimal. Each fresh run is compared with the entry the site
build has just cached (one execution per chapter, not two). `make bench` runs
the same check over every chapter.
"""

import pytest
from determinism import ROOT, compare_two_runs


@pytest.mark.parametrize("chapter", ["rnn", "math-building-blocks", "linear-regression"])
def test_a_chapter_prints_the_same_text_twice(chapter):
    difference = compare_two_runs(ROOT / "docs" / "zh" / f"{chapter}.md")
    assert not difference, f"{chapter} printed different text in two executions:\n" + "\n".join(difference[:40])

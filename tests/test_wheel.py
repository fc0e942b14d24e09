"""The reader's journey: the published wheel in a fresh environment, used from an empty folder.

`tests/reader_journey.py` does what a reader does (install the wheel, run the
README's command lines, run chapters' downloaded notebooks) and reports; the
tests here read that report. It runs in the background while the rest of the
suite runs, and these tests come last (see `reader_journey` in tests/conftest.py).
Every chapter's code ran with only the wheel installed when the site was built
(`use_published_wheel` in mkdocs.yml); the last test checks that it did.
"""

import json
import re
from pathlib import Path

from reader_journey import readme_commands

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_alone_into_a_fresh_environment(reader_journey):
    install = reader_journey["install"]
    assert "error" not in install, install.get("error")
    assert install["check"]["ok"], f"a requirement the wheel declares is missing: {install['check']['output']}"
    assert install["located"].startswith(install["venv"]), f"imported from {install['located']}, not the wheel"


def test_every_readme_command_runs_from_an_empty_folder(reader_journey):
    commands = reader_journey["commands"]
    assert [c["command"] for c in commands] == readme_commands(ROOT / "README.md")
    assert {c["command"].split()[0] for c in commands} >= {"cnn-tutorial", "python", "torchrun"}
    for command in commands:
        assert command["ok"], f"{command['command']} failed:\n{command['output']}"
    by_line = {c["command"]: c["output"] for c in commands}
    train = by_line["cnn-tutorial train --dataset digits --epochs 5 --out runs/digits"]
    assert "epoch 5/5 " in train, f"train prints a line per epoch:\n{train}"
    resumed = by_line["cnn-tutorial train --dataset digits --epochs 8 --out runs/digits --resume"]
    assert "epoch 6/8 " in resumed and "epoch 1/8 " not in resumed, f"--resume continues at epoch 6:\n{resumed}"
    assert "after 8 epochs: test_loss" in by_line["cnn-tutorial evaluate --checkpoint runs/digits/checkpoint.pt"]
    predicted = [out for line, out in by_line.items() if " predict " in line]
    assert predicted and all(re.search(r"test image \d+: predicted \S+ \(\d", out) for out in predicted), predicted
    ddp = next(out for line, out in by_line.items() if line.startswith("torchrun"))
    assert "epoch 5/5 " in ddp, ddp


def test_downloaded_notebooks_run_from_the_wheel(reader_journey):
    chapters = reader_journey["chapters"]  # JOURNEY_CHAPTERS in tests/conftest.py
    assert len(chapters) >= 5 and set(reader_journey["notebooks"]) == set(chapters), reader_journey["notebooks"]
    failed = {name: result["output"] for name, result in reader_journey["notebooks"].items() if not result["ok"]}
    assert not failed, "\n\n".join(f"{name}:\n{output}" for name, output in failed.items())
    for name, result in reader_journey["notebooks"].items():
        assert result["cells"] > 0 and result["outputs"] > 0, name


def test_every_chapter_ran_with_the_package_from_the_wheel(site):
    """The outputs of every chapter come from a kernel whose `cnn_tutorial` was an installed wheel.

    The executor refuses a chapter whose kernel imported the package from anywhere else; here
    each chapter's execution says which wheel its kernel had, and each is the published one or an
    older build of it whose modules that chapter used are unchanged (the cache's own rule).
    """
    from cnn_tutorial_docs.notebook_source import is_notebook_source, read_notebook
    from cnn_tutorial_docs.run_page import load_executor

    [published] = (site / "packages").glob("cnn_tutorial-*.whl")
    executor = load_executor(ROOT / "mkdocs.yml")
    kernels = {}
    for page in sorted((ROOT / "docs" / "en").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if is_notebook_source(text):
            execution = executor.lookup(executor.key(read_notebook(text)))
            assert execution is not None, f"{page.name}: the build's execution is not in its cache"
            kernels[page.stem] = execution.packages_from
    assert len(kernels) >= 20, kernels
    wrong = {name: source for name, source in kernels.items() if not source.startswith(published.name.split("-py")[0])}
    assert not wrong, f"chapters that did not run with the wheel {published.name}: {json.dumps(wrong, indent=1)}"

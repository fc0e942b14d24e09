"""Every snippet of the quick guide runs on its own, in both languages.

The quick guide is a plain Markdown page (not an executed notebook): its
```` ```python ```` blocks are meant to be copied one at a time. So each block
runs here alone, in a fresh namespace and an empty working folder, exactly as
a reader who pastes it into a new file would run it; the `assert`s in the
blocks check what they claim. The `cnn_tutorial` command lines in its
```` ```bash ```` blocks must be accepted by the command line's parser (they are
not run: `tests/test_cli.py` runs the commands themselves).
"""

import contextlib
import io
import linecache
import re
import shlex
import traceback
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from cnn_tutorial.cli import build_parser

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [DOCS / "zh" / "quick-guide.md", DOCS / "en" / "quick-guide.md"]
FENCE = re.compile(r"^```(python|bash)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def fences(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8")) if lang == language]


def snippet_cases():
    # The English page's snippets are the Chinese page's but for comments (tests/test_docs_parity.py): run once.
    for page in PAGES[:1]:
        for number, code in enumerate(fences(page, "python"), start=1):
            yield pytest.param(page, number, code, id=f"{page.parent.name}/{page.name}#{number}")


@pytest.fixture
def one_thread():
    # Once scikit-learn is imported (load_digits does), its own OpenMP runtime sits beside
    # torch's; on a 2-core machine, small training steps with 2 torch threads then ran
    # about 40 times slower (measured). With one torch thread they do not.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("page, number, code", list(snippet_cases()))
def test_snippet_runs_on_its_own(page, number, code, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # files a snippet saves land in an empty, temporary folder
    monkeypatch.setenv("CNN_TUTORIAL_DEVICE", "cpu")  # the same numbers on every machine
    monkeypatch.setenv("TQDM_DISABLE", "1")
    name = f"{page.relative_to(DOCS).as_posix()}, snippet {number}"
    first_line = code.strip().splitlines()[0]
    linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)  # tracebacks show the failing line
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, name, "exec"), {"__name__": "__main__"})
    except Exception:
        pytest.fail(
            f"{name} (first line: {first_line!r}) failed:\n{traceback.format_exc(limit=-3)}",
            pytrace=False,
        )
    finally:
        plt.close("all")


def command_lines():
    for page in PAGES:
        for block in fences(page, "bash"):
            for line in block.splitlines():
                words = shlex.split(line, comments=True)
                if "cnn_tutorial" in words:
                    yield pytest.param(page, line, id=f"{page.parent.name}: {line}")


@pytest.mark.parametrize("page, line", list(command_lines()))
def test_command_line_is_accepted(page, line):
    words = shlex.split(line, comments=True)
    arguments = words[words.index("cnn_tutorial") + 1 :]
    if "--help" in arguments:
        with pytest.raises(SystemExit) as exit, contextlib.redirect_stdout(io.StringIO()) as out:
            build_parser("python -m cnn_tutorial").parse_args(arguments)
        assert exit.value.code == 0 and "train" in out.getvalue()
        return
    try:
        build_parser().parse_args(arguments)
    except Exception as error:
        pytest.fail(f"{page.relative_to(DOCS).as_posix()}: {line!r} is rejected: {error}", pytrace=False)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.parent.name)
def test_page_covers_the_essentials_and_says_it_is_tested(page):
    text = page.read_text(encoding="utf-8")
    assert not text.startswith("---"), "the quick guide is plain Markdown, not an executed notebook"
    assert "tests/test_quick_guide.py" in text, "the page tells readers that its snippets are tested"
    code = "\n".join(fences(page, "python"))
    for essential in (
        "requires_grad",
        "nn.Module",
        "nn.Sequential",
        "DataLoader",
        "optimizer.zero_grad()",
        "model.eval()",
        "torch.no_grad()",
        "state_dict",
        "conv_output_size",
        "class SimpleCNN",
        "fit(",
        "evaluate(",
        "pick_device",
        "nn.LSTM",
        "nn.Embedding",
    ):
        assert essential in code, f"{page.name} has no snippet with {essential}"
    assert sum(param.values[0] == page for param in command_lines()) >= 2, f"{page.name} shows too few command lines"

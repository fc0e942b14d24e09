"""A reader's journey, from outside this repository: the published wheel in a fresh environment.

What a reader does: install the wheel the site publishes into their own
environment (keeping their torch), then, from an empty folder, run the
command line exactly as the README shows it and chapters' downloaded
notebooks. This script does that and writes a JSON report; `tests/test_wheel.py`
and `tests/test_determinism.py` check the report.

The environment is made as the site build makes the one its chapters run in
(`cnn_tutorial_docs.wheel_env`): only the wheel installed, third-party packages
reused. The build has already run every chapter's code there, so the downloaded
notebooks run here are those named with `--chapters`, whose printed text is
compared with what their page shows (in another process, another folder, and
without the build's settings: a check that they are deterministic).

It runs as a separate process so that the test suite can start it in the
background as soon as the site is built, beside the rest of the suite.

Usage: python tests/reader_journey.py WHEEL NOTEBOOKS_DIR README WORKDIR REPORT.json
       [--chapters a,b] [--workers N] [--nice N]
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from cnn_tutorial_docs.wheel_env import wheel_environment

# A notebook runs with a fresh kernel of the reader's environment, in its own empty folder.
RUN_NOTEBOOK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    spec = Path(sys.argv[2]) / "reader"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "reader", "language": "python"}))
    notebook = nbformat.read(sys.argv[1], as_version=4)
    built = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]  # what the site shows
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    km = AsyncKernelManager(kernel_name="reader", kernel_spec_manager=KernelSpecManager(kernel_dirs=[sys.argv[2]]),
                            transport="ipc", connection_file=str(Path(sys.argv[2]) / "kernel-connection.json"))
    NotebookClient(notebook, km=km, timeout=600, allow_errors=False,
                   resources={"metadata": {"path": "."}}).execute(cleanup_kc=True)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    # both sets of outputs, for tests/test_determinism.py: the reader's run must print what the site shows
    compared = Path(sys.argv[2]) / "outputs.json"
    compared.write_text(json.dumps({"built": built, "fresh": [c.outputs for c in code]}))
    print(json.dumps({"cells": len(code), "outputs": sum(len(c.outputs) for c in code), "compared": str(compared)}))
    """
)

def readme_commands(readme: Path) -> list[str]:
    """The command lines of the README's "Training from the command line" block, comments removed.

    Examples:
        >>> commands = readme_commands(Path(__file__).resolve().parents[1] / "README.md")
        >>> commands[0].split()[:2], any(c.startswith("torchrun ") for c in commands)
        (['cnn-tutorial', 'train'], True)
    """
    text = readme.read_text(encoding="utf-8")
    section = text.split("## Training from the command line", 1)[1]
    block = re.search(r"```(?:bash|shell)\n(.*?)```", section, re.DOTALL)
    if block is None:
        raise ValueError(f"{readme}: no ```bash block under 'Training from the command line'")
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _run(command: list[str], cwd: Path, env: dict, timeout: float) -> dict:
    began = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        ok, stdout, output = done.returncode == 0, done.stdout, (done.stdout + done.stderr)
    except subprocess.TimeoutExpired as expired:
        stdout = ""
        ok, output = False, f"timed out after {timeout} s\n{expired.stdout or ''}{expired.stderr or ''}"
    return {"ok": ok, "seconds": round(time.perf_counter() - began, 1), "output": output[-4000:],
            "stdout": stdout[-4000:]}


def reader_variables(venv: Path) -> dict:
    """The environment variables of a reader whose shell has activated `venv`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "CNN_TUTORIAL", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               # one thread: the rest of the test suite runs beside this
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg",
               # the device the site build uses (the installation chapter prints it): the notebooks'
               # outputs are compared with the page's (tests/test_determinism.py)
               CNN_TUTORIAL_DEVICE="cpu")
    return env


def journey(wheel: Path, notebooks: Path, readme: Path, workdir: Path, chapters: list[str], workers: int) -> dict:
    report: dict = {"install": {}, "commands": [], "notebooks": {}}
    try:
        python = wheel_environment(wheel, workdir / "reader-venv").python
    except RuntimeError as error:
        report["install"]["error"] = str(error)
        return report
    env = reader_variables(python.parent.parent)
    empty = workdir / "reader"
    empty.mkdir()
    report["install"]["check"] = _run([sys.executable, "-m", "pip", "--python", str(python), "check"], empty, env, 120)
    report["install"]["located"] = _run([str(python), "-c", "import cnn_tutorial; print(cnn_tutorial.__file__)"],
                                        empty, env, 60)["output"].strip()
    report["install"]["venv"] = str(python.parent.parent)

    for line in readme_commands(readme):  # in order: evaluate and predict read what train wrote
        report["commands"].append({"command": line, **_run(shlex.split(line), empty, env, 600)})

    def one(notebook: Path) -> tuple[str, dict]:
        folder = workdir / "notebooks" / notebook.stem
        folder.mkdir(parents=True)
        (folder / notebook.name).write_bytes(notebook.read_bytes())
        kernels = workdir / "kernels" / notebook.stem  # outside the reader's folder, short of 107-byte socket paths
        result = _run([str(python), str(workdir / "run_notebook.py"), notebook.name, str(kernels)], folder, env, 900)
        if result["ok"]:  # the runner's last printed line; warnings go to stderr
            result.update(json.loads(result.pop("stdout").strip().splitlines()[-1]))
        return notebook.stem, result

    (workdir / "run_notebook.py").write_text(RUN_NOTEBOOK)  # once: notebooks run in parallel
    found = [notebooks / chapter / f"{chapter}.ipynb" for chapter in chapters]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        report["notebooks"] = dict(pool.map(one, found))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("wheel", "notebooks", "readme", "workdir", "report"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--chapters", default="", help="the chapters whose downloaded notebooks run, comma-separated")
    parser.add_argument("--workers", type=int, default=1, help="notebooks run at once")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority (and its children's)")
    args = parser.parse_args()
    os.nice(args.nice)
    began = time.perf_counter()
    chapters = [name for name in args.chapters.split(",") if name]
    report = journey(args.wheel, args.notebooks, args.readme, args.workdir, chapters, args.workers)
    report["chapters"] = chapters
    report["seconds"] = round(time.perf_counter() - began, 1)
    temporary = args.report.with_suffix(".tmp")
    temporary.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    temporary.replace(args.report)


if __name__ == "__main__":
    main()

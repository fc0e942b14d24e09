"""A reader's journey, from outside this repository: the published wheel in a fresh environment.

What a reader does: install the wheel the site publishes into their own
environment (keeping their torch), then, from an empty folder, run the
command line exactly as the README shows it and every chapter's downloaded
notebook. This script does that and writes a JSON report; `tests/test_wheel.py`
starts it and checks the report.

The fresh virtual environment reuses this environment's third-party packages
(torch alone is hundreds of megabytes) through a `.pth` line, but not the
project: `cnn_tutorial` there can only come from the wheel. A `.pth` file's
path line does not run the `.pth` files of the folder it adds, so this
environment's editable install of the project is not seen either.

It runs as a separate process so that the test suite can start it in the
background as soon as the site is built: the notebooks then run beside the
rest of the suite, which keeps torch on one thread.

Usage: python tests/reader_journey.py WHEEL NOTEBOOKS_DIR README WORKDIR REPORT.json [--workers N] [--nice N]
"""

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

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

# torch installs `torchrun` as a console script; the reader's environment reuses torch
# from ours without installing it, so it gets the same script here.
TORCHRUN = "#!{python}\nimport sys\nfrom torch.distributed.run import main\nsys.exit(main())\n"


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


def make_environment(wheel: Path, where: Path) -> tuple[Path, dict]:
    """A fresh virtual environment with the wheel installed; returns its python and a reader's environment."""
    venv = where / "reader-venv"
    # no pip (nor its bundled setuptools) inside: this environment's pip installs into it (--python)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "reuse-third-party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (venv / "bin" / "torchrun").write_text(TORCHRUN.format(python=python))
    (venv / "bin" / "torchrun").chmod(0o755)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "CNN_TUTORIAL", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               # one thread: the rest of the test suite runs beside this
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg",
               # the device the site build uses (the installation chapter prints it): the notebooks'
               # outputs are compared with the page's (tests/test_determinism.py)
               CNN_TUTORIAL_DEVICE="cpu")
    return python, env


def journey(wheel: Path, notebooks: Path, readme: Path, workdir: Path, workers: int) -> dict:
    report: dict = {"install": {}, "commands": [], "notebooks": {}}
    python, env = make_environment(wheel, workdir)
    empty = workdir / "reader"
    empty.mkdir()
    probe = [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('cnn_tutorial'))"]
    report["install"]["before"] = _run(probe, empty, env, 60)["output"].strip()
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    report["install"]["pip"] = _run([*pip, "install", "--no-index", "--no-deps", str(wheel)], empty, env, 300)
    report["install"]["check"] = _run([*pip, "check"], empty, env, 120)
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
    found = sorted(notebooks.glob("*/*.ipynb"), key=lambda path: path.stat().st_size, reverse=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        report["notebooks"] = dict(pool.map(one, found))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("wheel", "notebooks", "readme", "workdir", "report"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--workers", type=int, default=1, help="notebooks run at once")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority (and its children's)")
    args = parser.parse_args()
    os.nice(args.nice)
    began = time.perf_counter()
    report = journey(args.wheel, args.notebooks, args.readme, args.workdir, args.workers)
    report["seconds"] = round(time.perf_counter() - began, 1)
    temporary = args.report.with_suffix(".tmp")
    temporary.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    temporary.replace(args.report)


if __name__ == "__main__":
    main()

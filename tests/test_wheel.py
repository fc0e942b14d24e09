"""A reader installs the wheel the site publishes and runs a downloaded chapter, outside this repository.

The fresh virtual environment reuses this environment's third-party packages
(torch alone is hundreds of megabytes) through a `.pth` line, but not the
project: `cnn_tutorial` there can only come from the published wheel, and the
notebook runs in an empty folder, so neither the repository nor its editable
install is on the path.
"""

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path


CHAPTER = "word-embedding"  # imports the package and reads its shipped corpus (package data)

RUN_NOTEBOOK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    spec = Path("kernels") / "fresh"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh", "language": "python"}))
    notebook = nbformat.read(sys.argv[1], as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    km = AsyncKernelManager(kernel_name="fresh", kernel_spec_manager=KernelSpecManager(kernel_dirs=["kernels"]))
    NotebookClient(notebook, km=km, timeout=300, resources={"metadata": {"path": "."}}).execute(cleanup_kc=True)
    where = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    print(json.dumps({"cells": sum(c.cell_type == "code" for c in notebook.cells), "outputs": len(where)}))
    """
)


def run(command, cwd, timeout=300):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_a_downloaded_chapter_runs_from_the_published_wheel(site, tmp_path):
    wheels = list((site / "packages").glob("cnn_tutorial-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "fresh-venv"
    # no pip (nor its old bundled setuptools) inside: this environment's pip installs into it (--python)
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = str(venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", python]
    purelib = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip())
    (purelib / "reuse-third-party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    empty = tmp_path / "reader"
    empty.mkdir()
    probe = [python, "-c", "import importlib.util; print(importlib.util.find_spec('cnn_tutorial'))"]
    assert run(probe, empty).strip() == "None", "before installing the wheel, the package is not there"

    run([*pip, "install", "--quiet", "--no-index", "--no-deps", str(wheels[0])], empty)
    located = run([python, "-c", "import cnn_tutorial; print(cnn_tutorial.__file__)"], empty).strip()
    assert located.startswith(str(venv)), located
    run([*pip, "check"], empty)  # every requirement the wheel declares is satisfied

    notebook = site / "en" / CHAPTER / f"{CHAPTER}.ipynb"
    (empty / notebook.name).write_bytes(notebook.read_bytes())
    (empty / "run.py").write_text(RUN_NOTEBOOK)
    report = json.loads(run([python, "run.py", notebook.name], empty, timeout=600).strip().splitlines()[-1])
    assert report["cells"] > 5 and report["outputs"] > 0

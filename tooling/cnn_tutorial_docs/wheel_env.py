"""A reader's environment: a fresh virtual environment with only the package's wheel installed.

The site build runs its chapters there (`cnn-tutorial-notebooks` with
`use_published_wheel: true`), and the reader's-journey test runs the README's
command lines there: what works in it works for a reader who ran
`pip install <the site's wheel>` into their own environment.

Third-party packages are reused from this environment (torch alone is hundreds
of megabytes) through a `.pth` line, but not the project: a `.pth` file's
path line does not run the `.pth` files of the folder it adds, so this
environment's editable installs are not seen, and the package can only come
from the wheel.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

# torch installs `torchrun` as a console script; the environment reuses torch from
# this one without installing it, so it gets the same script.
TORCHRUN = "#!{python}\nimport sys\nfrom torch.distributed.run import main\nsys.exit(main())\n"
_DONE = ".complete"


@dataclass(frozen=True)
class WheelEnvironment:
    python: Path  # its interpreter
    purelib: Path  # where the wheel's packages are installed


def wheel_environment(wheel: Path, folder: Path) -> WheelEnvironment:
    """A virtual environment at `folder` with `wheel` installed (no dependencies), made once.

    A second call with the same folder returns the environment the first made; two
    processes making it at once take turns. A half-made folder (a killed build) is made again.

    Raises:
        RuntimeError: the wheel could not be installed (pip's message included).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock", timeout=300):
        python = folder / "bin" / "python"
        if not (folder / _DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)
            # no pip (nor its bundled setuptools) inside: this environment's pip installs into it (--python)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
            purelib = _purelib(python)
            Path(purelib, "reuse-third-party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            torchrun = folder / "bin" / "torchrun"
            torchrun.write_text(TORCHRUN.format(python=python))
            torchrun.chmod(0o755)
            with tempfile.TemporaryDirectory() as empty:  # not the checkout: pip must not see its sources
                done = subprocess.run(
                    [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                     "--disable-pip-version-check", "--no-index", "--no-deps", str(wheel)],
                    cwd=empty, capture_output=True, text=True,
                )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"installing {wheel.name} into {folder} failed:\n{done.stdout}{done.stderr}")
            (folder / _DONE).write_text(str(wheel) + "\n")
        return WheelEnvironment(python=python, purelib=Path(_purelib(python)))


def _purelib(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()

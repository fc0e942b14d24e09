"""Record, at exit, the modules a Python process started by a chapter imported.

A chapter may run the package in another process (`torchrun ... -m
cnn_tutorial train`); the kernel never imports those modules itself, yet the
chapter's output depends on them. The executor puts this folder on the
kernel's PYTHONPATH, so every Python process the chapter starts runs this
file at start-up; at exit it writes its imported modules' names and files into
the folder named by CNN_TUTORIAL_DOCS_IMPORTS (through a temporary file and a
rename: the executor never reads half a record). Then it runs the
sitecustomize this one hides, if there is one.

pytest never collects this file (the root conftest.py ignores this folder):
imported as the top-level module `sitecustomize`, it would clash with the one
Debian's and Ubuntu's Pythons have already imported at start-up.
"""

import atexit
import importlib.machinery  # imported explicitly: at start-up nothing may have imported it yet
import importlib.util
import json
import os
import sys


def _record() -> None:
    folder = os.environ.get("CNN_TUTORIAL_DOCS_IMPORTS")
    if not folder or not os.path.isdir(folder):
        return
    files = sorted((name, m.__file__) for name, m in list(sys.modules.items()) if getattr(m, "__file__", None))
    path = os.path.join(folder, f"imports-{os.getpid()}.json")
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(files, out)
        os.replace(path + ".tmp", path)
    except OSError:
        pass


atexit.register(_record)

_here = os.path.dirname(os.path.abspath(__file__))
_rest = [p for p in sys.path if os.path.abspath(p or ".") != _here]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)

"""Execute chapter notebooks in fresh kernels, with a cache you can trust.

Used by the `cnn-tutorial-notebooks` MkDocs plugin and by `run_page`.

The cache key of a notebook has two parts:

1. A *base key*: the code cells without comments (so the Chinese and English
   pages, which differ only in comments, share one execution) and their
   tags, the setup code, the kernel's environment (built from an allowlist,
   not inherited: see `kernel_environment`), the Python version and every
   installed distribution's version (the kernel is started with this very
   interpreter, so that is what it sees), and the source of this executor.
2. The *dependencies recorded when it ran*: after the last cell, a hidden
   step lists the modules the notebook imported; those that come from the
   watched package folders, with the package's data files, are stored with
   the outputs together with a hash of each. A cached execution is reused
   only while every recorded file is unchanged, so an edit to one module
   re-executes only the chapters that imported it. The files are hashed
   *before* the kernel starts: a file saved while a notebook runs is a miss
   next time. A module of a watched package imported from anywhere but its
   folder fails the notebook (its outputs would not follow the folder).

Execution is safe to interrupt and to run twice at once:

- each result is stored (atomically, under a unique temporary name) as soon
  as its notebook finishes, so Ctrl-C loses only what was still running;
- Ctrl-C stops the scheduling at once and kills every running kernel's
  process group (kernels run in sessions of their own);
- a file lock per base key makes a second build wait for, then reuse, an
  execution another build has started;
- every notebook has a time limit of its own, besides the per-cell one;
- notebooks run longest first, from the durations of the last run; those
  never timed (all of them in a fresh clone) go first, most code first;
- an error is logged the moment it happens, naming each page that shares
  the notebook, the Markdown line of the failing cell and the traceback;
- pruning skips what a concurrent build renamed or removed meanwhile, and
  never removes a lock another build holds.

Kernels import the watched packages from their source folders (on
PYTHONPATH), or, with `Settings.wheel`, from a wheel built from them and
installed into a virtual environment of its own under `<cache>/wheel-env/`
(`wheel_env`): what a reader who installed the site's wheel has. The wheel's
copy of a module stands for its source file in the recorded dependencies.

A notebook runs in a working folder of its own under `<cache>/work/` (what it
writes there is published next to its page); its `TMPDIR`, the kernel's
sockets and its connection file are in a short private folder of the system's
temporary folder (`cnn-nb-XXXXXXXX`), removed after the run, so no socket
path depends on where the checkout lives (a Unix socket's path may not exceed
107 bytes).

Why not jupyter-cache: its key is the code cells and kernelspec only (it can
not see an edit to an imported module, nor the kernel's environment), it has
no notion of dependencies recorded at run time, and its executors have no
per-notebook deadline or interrupt handling of their own. Its record keeping
(an SQLite file of notebooks and artifacts) would be the smaller part of what
this module does.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import queue
import re
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import nbformat
from filelock import FileLock, Timeout

from cnn_tutorial_docs.notebook_source import code_cell_lines, code_cells, code_without_comments
from cnn_tutorial_docs.wheel_env import WheelEnvironment, wheel_environment

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MODULES_FILE = ".cnn_tutorial_docs_modules.json"
_PRIVATE_PREFIX = "cnn-nb-"  # a chapter's temporary folder and kernel sockets: <system temp>/cnn-nb-XXXXXXXX

# Run, unseen, before a notebook's first cell: figures get a text description
# (their titles and axis labels) as `text/plain`, which becomes the image's
# alt text on the page.
_FIGURE_TEXT = r'''
def _cnn_tutorial_docs_describe(figure):
    parts = []
    if figure._suptitle is not None and figure._suptitle.get_text():
        parts.append(figure._suptitle.get_text())
    for axes in figure.get_axes():
        title = axes.get_title() or axes.get_title("left") or axes.get_title("right")
        labels = [label for label in (axes.get_xlabel(), axes.get_ylabel()) if label]
        if title and labels:
            parts.append(f"{title} ({' vs '.join(reversed(labels))})")
        elif title or labels:
            parts.append(title or " vs ".join(reversed(labels)))
    count = len(figure.get_axes())
    text = "; ".join(dict.fromkeys(p.strip().replace("\n", " ") for p in parts if p.strip()))
    return f"Figure: {text}" if text else f"Figure with {count} plot{'s' if count != 1 else ''}"

def _cnn_tutorial_docs_setup():
    # IPython's plain-text printer uses a class's _repr_pretty_ when no printer is registered for
    # it; a registered one would not last: matplotlib's inline backend drops every formatter's
    # Figure entry when it is activated (IPython's select_figure_formats)
    from matplotlib.figure import Figure

    Figure._repr_pretty_ = lambda figure, printer, cycle: printer.text(_cnn_tutorial_docs_describe(figure))

_cnn_tutorial_docs_setup()
del _cnn_tutorial_docs_setup
'''

# Run, unseen, after a notebook's last cell: which modules did it import, from which files?
_RECORD_MODULES = f"""
import json as _j, sys as _s
with open({_MODULES_FILE!r}, "w") as _f:
    _j.dump(sorted((_n, _m.__file__) for _n, _m in list(_s.modules.items()) if getattr(_m, "__file__", None)), _f)
del _j, _s, _f
"""

# Inherited from the build's environment and passed to kernels, not keyed: they say where things
# are, not what a notebook computes. Everything else a kernel sees is set by the executor (and keyed),
# or named in `pass_env` (inherited and keyed).
_PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LD_LIBRARY_PATH")


class NotebookError(Exception):
    """A notebook failed, timed out or could not be executed; the message says where and why."""


@dataclass
class Execution:
    """The outputs of one notebook's code cells, as cached."""

    outputs: list[list[dict]]
    seconds: float
    versions: dict[str, str]
    source: str = ""  # the page that was executed (any page with the same key shares it)
    files: dict[str, str] | None = None  # name -> base64 of what the notebook wrote into its folder
    dependencies: dict[str, str] = field(default_factory=dict)  # path (relative to the root) -> sha256
    packages_from: str = ""  # "source folders", or the installed wheel's name and sha256 prefix


@dataclass
class Job:
    """One notebook to execute, and the pages (in every language) that show it."""

    key: str
    notebook: nbformat.NotebookNode
    pages: dict[str, str]  # page path (for reports) -> its Markdown text (for line numbers)

    @property
    def name(self) -> str:
        return next(iter(self.pages))


@dataclass
class _Running:
    job: Job
    started: float
    km: object = None
    killed_because: str | None = None
    seen_pid: int | None = None  # kept after the manager has cleaned up, to kill what the kernel left
    cell_index: int | None = None  # the code cell running now (0 is the hidden setup cell)

    def cell_started(self, cell=None, cell_index=None, **_) -> None:
        self.pid  # noqa: B018 (reading it records it)
        self.cell_index = cell_index

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            self.seen_pid = pid
        return pid or self.seen_pid

    def remember_pid(self, **_) -> None:
        self.pid  # noqa: B018 (reading it records it)


@dataclass
class Settings:
    """What the executor needs to know; the plugin fills it from its options."""

    root: Path
    cache_dir: Path
    packages: list[str] = field(default_factory=list)
    setup_code: str = ""
    allow_errors: bool = False
    cell_timeout: int = 600
    notebook_timeout: int = 300
    workers: int = 2
    kernel_env: dict[str, str] = field(default_factory=dict)
    pass_env: list[str] = field(default_factory=list)  # more variables inherited from the build (keyed)
    max_published_bytes: int = 2 * 1024 * 1024
    prune_days: float = 14.0
    cache: bool = True  # False: neither read nor fill the cache
    # Where kernels get the watched packages: None, from their source folders (on PYTHONPATH);
    # else a function returning a wheel of them, installed into an environment of its own (keyed)
    wheel: Callable[[], Path] | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes.

    Examples:
        >>> strip_ansi("\\x1b[31mred\\x1b[0m")
        'red'
    """
    return _ANSI.sub("", text)


def installed_versions() -> dict[str, str]:
    """Python's version and every installed distribution's, as the kernel sees them.

    The kernel is started with this interpreter (see `Executor`), so the
    distributions visible here are the ones the notebook imports.
    """
    versions = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name:
            versions[name] = dist.version
    return {"python": sys.version.split()[0], **dict(sorted(versions.items()))}


def default_kernel_env(workers: int) -> dict[str, str]:
    """The variables a kernel runs with: set, not defaulted, and part of the cache key.

    Examples:
        >>> env = default_kernel_env(2)
        >>> env["CNN_TUTORIAL_DEVICE"], env["PYTHONHASHSEED"]
        ('cpu', '0')
    """
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    return {
        "CNN_TUTORIAL_DEVICE": "cpu",  # the same numbers on every build machine
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "PYTHONHASHSEED": "0",
        "TQDM_DISABLE": "1",
    }


class Executor:
    """Executes notebooks, caches their outputs and serves them back."""

    def __init__(self, settings: Settings, log) -> None:
        self.settings = settings
        self.log = log
        self.entries = settings.cache_dir / "entries"
        self.locks = settings.cache_dir / "locks"
        self.kernels = settings.cache_dir / "kernel"
        self.work = settings.cache_dir / "work"
        self.durations_file = settings.cache_dir / "durations.json"
        self._environment = {
            "executor": _sha256(
                b"".join(
                    Path(__file__).parent.joinpath(name).read_bytes()
                    for name in ("execution.py", "notebook_source.py", "child_imports/sitecustomize.py")
                )
            ),
            "versions": installed_versions(),
            "kernel_env": dict(sorted(settings.kernel_env.items())),
            "pass_env": {name: os.environ.get(name) for name in sorted(settings.pass_env)},
            "packages": sorted(settings.packages),  # on the kernel's PYTHONPATH (as paths: not keyed, a moved checkout keeps its cache)
            "setup": settings.setup_code,
            "allow_errors": settings.allow_errors,
            "packages_from": "installed wheel" if settings.wheel else "source folders",
        }
        self._wheel_environment: WheelEnvironment | None = None
        self._wheel_lock = threading.Lock()
        self._wheel_name = ""
        self._file_hashes: dict[Path, str | None] = {}
        self.used: set[str] = set()

    # ------------------------------------------------------------ keys and cache

    def key(self, notebook: nbformat.NotebookNode) -> str:
        """The base key: equal for notebooks whose code differs only in comments."""
        payload = {
            "code": [code_without_comments(src) for src in code_cells(notebook)],
            "tags": [sorted(cell.get("metadata", {}).get("tags", [])) for cell in notebook.cells if cell.cell_type == "code"],
            "environment": self._environment,
        }
        return _sha256(json.dumps(payload, sort_keys=True).encode())

    def _hash_file(self, relative: str) -> str | None:
        path = self.settings.root / relative
        if path not in self._file_hashes:
            try:
                self._file_hashes[path] = _sha256(path.read_bytes())
            except OSError:
                self._file_hashes[path] = None
        return self._file_hashes[path]

    def forget_file_hashes(self) -> None:
        """Files may have changed (a rebuild under `mkdocs serve`): hash them again."""
        self._file_hashes.clear()

    def lookup(self, key: str, name: str | None = None) -> Execution | None:
        """The cached execution for `key`, if every file it depended on is unchanged.

        With a page `name`, a miss because a dependency changed is logged, naming the files.
        """
        if not self.settings.cache:
            return None
        path = self.entries / f"{key}.json"
        try:
            execution = Execution(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        changed = [file for file, digest in execution.dependencies.items() if self._hash_file(file) != digest]
        if changed:
            if name is not None:
                self.log.info(f"Re-executing {name}: {', '.join(changed)} changed")
            return None
        self.used.add(key)
        try:
            os.utime(path)  # last use, for pruning
        except OSError:
            pass
        return execution

    def store(self, key: str, execution: Execution) -> None:
        """Write an entry atomically, under a name no other build uses."""
        if not self.settings.cache:
            return
        self.entries.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.entries, prefix=f".{key[:16]}-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(dataclasses.asdict(execution), out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.entries / f"{key}.json")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.used.add(key)

    def prune(self) -> list[str]:
        """Delete entries no page of this build used and nobody used for `prune_days`; clean up leftovers.

        Safe beside a concurrent build: a file that another build renamed or removed in the
        meantime is skipped. Leftovers of killed builds older than a day go too: temporary
        files, working folders, chapters' private temporary folders, and lock files of keys
        that have no entry (never those another build holds).
        """
        removed = []
        now = time.time()
        limit = now - self.settings.prune_days * 86400
        day_ago = now - 86400
        for path in _listing(self.entries, "*.json"):
            if path.stem not in self.used and _older_than(path, limit):
                path.unlink(missing_ok=True)
                removed.append(path.stem)
        for path in [*_listing(self.entries, ".*.tmp"), *_listing(self.settings.cache_dir, "*.tmp")]:
            if _older_than(path, day_ago):
                path.unlink(missing_ok=True)
        for path in _listing(self.work, "*"):
            if _older_than(path, day_ago):
                _remove_tree(path)
        current = self._wheel_environment.python.parent.parent if self._wheel_environment else None
        for path in _listing(self.settings.cache_dir / "wheel-env", "*"):
            if path.is_dir() and path != current and _older_than(path, limit):
                _remove_tree(path)
            elif path.suffix == ".lock" and not path.with_suffix("").exists() and _older_than(path, day_ago):
                path.unlink(missing_ok=True)
        for path in _listing(Path(_temp_root()), _PRIVATE_PREFIX + "*"):
            try:
                mine = path.stat().st_uid == os.getuid()
            except OSError:
                continue
            if mine and _older_than(path, day_ago):
                _remove_tree(path)
        for path in _listing(self.locks, "*.lock"):
            if (self.entries / f"{path.stem}.json").exists() or not _older_than(path, day_ago):
                continue
            file_lock = FileLock(str(path))
            try:
                file_lock.acquire(timeout=0)
            except Timeout:
                continue  # another build is executing that notebook
            try:
                path.unlink(missing_ok=True)
            finally:
                file_lock.release()
        return removed

    def _durations(self) -> dict[str, float]:
        try:
            return json.loads(self.durations_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _record_duration(self, name: str, seconds: float) -> None:
        """Best effort: the result is already stored; durations only order the next build's work."""
        try:
            self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self.durations_file) + ".lock", timeout=30):
                durations = self._durations()
                durations[_duration_name(name)] = round(seconds, 1)
                handle, temporary = tempfile.mkstemp(dir=self.settings.cache_dir, suffix=".tmp")
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as out:
                        json.dump(dict(sorted(durations.items())), out, indent=0)
                    os.replace(temporary, self.durations_file)
                finally:
                    Path(temporary).unlink(missing_ok=True)
                with open(self.settings.cache_dir / "executions.log", "a", encoding="utf-8") as log:
                    log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{name}\t{seconds:.1f}\n")
        except (OSError, Timeout) as error:
            self.log.info(f"Could not record how long {name} ran ({type(error).__name__}: {error})")

    # ------------------------------------------------------------ running

    def run(self, jobs: list[Job]) -> dict[str, Execution]:
        """Execute `jobs` (longest first, `workers` at a time) and return their executions.

        Raises:
            NotebookError: one or more notebooks failed (each was logged as it failed).
            KeyboardInterrupt: after killing every running kernel; finished results are kept.
        """
        results: dict[str, Execution] = {}
        if not jobs:
            return results
        jobs = execution_order(jobs, self._durations())
        todo: queue.Queue[Job] = queue.Queue()
        for job in jobs:
            todo.put(job)
        done: queue.Queue[tuple[Job, Execution | None, str | None]] = queue.Queue()
        stop = threading.Event()
        running: dict[int, _Running] = {}
        lock = threading.Lock()

        def worker() -> None:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    execution = self._run_locked(job, stop, running, lock)
                    done.put((job, execution, None))
                except NotebookError as error:
                    done.put((job, None, str(error)))
                except BaseException as error:  # never let a worker die silently
                    done.put((job, None, f"{job.name}: {type(error).__name__}: {error}"))

        threads = [
            threading.Thread(target=worker, name=f"notebook-worker-{i}", daemon=True)
            for i in range(max(1, min(self.settings.workers, len(jobs))))
        ]
        for thread in threads:
            thread.start()
        errors = []
        try:
            finished = 0
            while finished < len(jobs):
                try:
                    job, execution, error = done.get(timeout=0.5)
                except queue.Empty:
                    self._enforce_deadlines(running, lock)
                    if not any(thread.is_alive() for thread in threads) and done.empty():
                        break
                    continue
                finished += 1
                if error is not None:
                    self.log.error(error)
                    errors.append(error)
                else:
                    results[job.key] = execution
        except BaseException:
            stop.set()
            self._kill_all(running, lock, "the build was interrupted")
            for thread in threads:
                thread.join(timeout=5)
            raise
        if errors:
            raise NotebookError(f"{len(errors)} notebook(s) failed:\n\n" + "\n\n".join(errors))
        return results

    def _enforce_deadlines(self, running: dict[int, _Running], lock: threading.Lock) -> None:
        limit = self.settings.notebook_timeout
        with lock:
            late = [r for r in running.values() if r.killed_because is None and time.monotonic() - r.started > limit]
        for entry in late:
            entry.killed_because = f"it ran longer than the limit of {limit} s per notebook"
            _kill_process_group(entry.pid)

    def _kill_all(self, running: dict[int, _Running], lock: threading.Lock, why: str) -> None:
        with lock:
            entries = list(running.values())
        for entry in entries:
            entry.killed_because = why
            _kill_process_group(entry.pid)

    def _run_locked(self, job: Job, stop: threading.Event, running, lock) -> Execution:
        """Execute `job` unless another build holds its lock; then reuse that build's result."""
        self.locks.mkdir(parents=True, exist_ok=True)
        file_lock = FileLock(str(self.locks / f"{job.key}.lock"))
        while True:
            if stop.is_set():
                raise NotebookError(f"{job.name}: not executed, the build was interrupted")
            try:
                file_lock.acquire(timeout=1)
                break
            except Timeout:
                continue
        try:
            self.forget_file_hashes_of(job.key)
            cached = self.lookup(job.key)
            if cached is not None:
                self.log.info(f"Reusing {job.name}: another build executed it meanwhile")
                return cached
            execution = self.execute(job, stop=stop, running=running, lock=lock)
            self.store(job.key, execution)
            self._record_duration(job.name, execution.seconds)
            return execution
        finally:
            file_lock.release()

    def forget_file_hashes_of(self, key: str) -> None:
        """Re-hash the files an entry depends on (another build may have changed nothing, or they may)."""
        path = self.entries / f"{key}.json"
        try:
            dependencies = json.loads(path.read_text(encoding="utf-8")).get("dependencies", {})
        except (OSError, ValueError):
            return
        for name in dependencies:
            self._file_hashes.pop(self.settings.root / name, None)

    def execute(self, job: Job, stop: threading.Event | None = None, running=None, lock=None) -> Execution:
        """Run one notebook in a fresh kernel, in a working folder of its own; no cache involved."""
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError

        running = {} if running is None else running
        lock = threading.Lock() if lock is None else lock
        # Hashed before the kernel starts: a file saved while the notebook runs (under `mkdocs serve`)
        # must not be recorded as the version the outputs came from.
        before = self._package_hashes()
        notebook = copy.deepcopy(job.notebook)
        setup = _FIGURE_TEXT + ("\n" + self.settings.setup_code if self.settings.setup_code else "")
        notebook.cells.insert(0, nbformat.v4.new_code_cell(setup))
        notebook.cells.append(nbformat.v4.new_code_cell(_RECORD_MODULES))
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}

        self.work.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(dir=self.work, prefix=Path(job.name).stem + "-"))
        imports = workdir / ".imports"  # what the processes a chapter starts imported (child_imports/)
        imports.mkdir()
        # The chapter's temporary files and the kernel's sockets go into a short private folder in the
        # system's temporary folder, removed after the run, never under the checkout: a Unix socket's
        # path may not exceed 107 bytes, and multiprocessing puts its sockets (a spawned DataLoader
        # worker's) into TMPDIR. The kernel talks over Unix sockets, not TCP: a TCP kernel holds five
        # ports picked by the OS, and a chapter's torchrun may be handed one of them for its rendezvous
        # between checking that it is free and binding it, then wait forever on a socket that is not
        # its store.
        private = Path(tempfile.mkdtemp(prefix=_PRIVATE_PREFIX, dir=_temp_root()))
        scratch = private / "tmp"  # tempfile.mkdtemp() inside a chapter lands here, not in /tmp
        scratch.mkdir()
        kernelspec = self._kernelspec()
        env = {
            **self.kernel_environment(),
            "TMPDIR": str(scratch),
            "CNN_TUTORIAL_DOCS_ROOT": str(self.settings.root),  # lets tests find stray kernels
            "CNN_TUTORIAL_DOCS_IMPORTS": str(imports),
        }
        # An asynchronous manager: with a blocking one, nbclient's wait for output blocks its
        # event loop, and a killed kernel is never noticed.
        km = AsyncKernelManager(
            kernel_name=kernelspec.name,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernelspec.parent)]),
            transport="ipc",
            ip=str(private / "k"),
            connection_file=str(private / "kernel.json"),
        )
        client = NotebookClient(
            notebook,
            km=km,
            timeout=self.settings.cell_timeout,
            allow_errors=self.settings.allow_errors,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(workdir)}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # its start-up notices are noise in every build log
        )
        entry = _Running(job, time.monotonic(), km=km)
        client.on_notebook_start = entry.remember_pid
        client.on_cell_start = entry.cell_started
        ident = threading.get_ident()
        started = time.perf_counter()
        succeeded = False
        try:
            with lock:
                running[ident] = entry
            if stop is not None and stop.is_set():
                raise NotebookError(f"{job.name}: not executed, the build was interrupted")
            client.execute(cleanup_kc=True, env=env)
            succeeded = True
        except CellExecutionError as error:
            raise NotebookError(self._describe_failure(job, notebook, strip_ansi(str(error)))) from None
        except NotebookError:
            raise
        except Exception as error:  # kernel died, cell timeout, killed by the deadline or Ctrl-C
            reason = entry.killed_because or f"{type(error).__name__}: {error}"
            code_index = self._code_index(notebook, entry.cell_index)
            where = (
                f"{self._pages_line(job, code_index)}: code cell {code_index + 1}"
                if code_index is not None
                else self._pages_line(job)
            )
            raise NotebookError(f"{where} could not be executed: {reason}") from None
        finally:
            with lock:
                running.pop(ident, None)
            _kill_process_group(entry.pid)  # whatever the notebook started (torchrun, workers) goes too
            _remove_tree(private)
            if not succeeded:
                _remove_tree(workdir)
        seconds = time.perf_counter() - started
        try:
            dependencies = self._dependencies(workdir, before, job.name)
            files = _written_files(workdir, job.name, self.settings.max_published_bytes)
        finally:
            _remove_tree(workdir)
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"][1:-1]
        self.log.info(f"Executed {job.name} in {seconds:.1f} s")
        return Execution(
            outputs=[list(cell.outputs) for cell in cells],
            seconds=seconds,
            versions={name: self._environment["versions"].get(name, "?") for name in ("python", "torch")},
            source=job.name,
            files=files,
            dependencies=dependencies,
            packages_from=self._wheel_name or "source folders",
        )

    def _python_path(self) -> list[str]:
        """The kernel's PYTHONPATH: the import hook, then the folders holding the watched packages
        (none when the kernel's environment has them installed from the wheel)."""
        hook = str(Path(__file__).with_name("child_imports"))
        if self.settings.wheel:
            return [hook]
        parents = [str((self.settings.root / folder).resolve().parent) for folder in self.settings.packages]
        return [hook, *dict.fromkeys(parents)]

    def kernel_python(self) -> Path:
        """The interpreter kernels run: this one, or that of an environment with only the wheel installed.

        The environment is made the first time a notebook needs it (an executor per build: the
        wheel is that of the package as the build found it), once per wheel content, which names
        its folder: a changed package gets a new wheel and a new environment.
        """
        if not self.settings.wheel:
            return Path(sys.executable)
        with self._wheel_lock:  # notebooks start in several threads
            if self._wheel_environment is None:
                wheel = self.settings.wheel()
                folder = self.settings.cache_dir / "wheel-env" / _sha256(wheel.read_bytes())[:20]
                try:
                    self._wheel_environment = wheel_environment(wheel, folder)
                except RuntimeError as error:
                    raise NotebookError(str(error)) from None
                self._wheel_name = f"{wheel.name} sha256:{folder.name}"
                os.utime(folder)  # last use, for pruning
        return self._wheel_environment.python

    def kernel_environment(self) -> dict[str, str]:
        """What a kernel's environment holds besides its working folders, from an allowlist.

        The build's own variables are not inherited (a `PYTHONPATH`, `PYTHONWARNINGS` or
        `OMP_*` in the shell would change outputs without changing the key), except those
        that say where things are (`_PASSED_ENV`) and those named in `pass_env` (keyed).
        `PATH` starts with the kernel's interpreter's folder, so `python` and `torchrun` in a
        notebook are the kernel's.
        """
        env = {name: os.environ[name] for name in (*_PASSED_ENV, *self.settings.pass_env) if name in os.environ}
        env["PATH"] = os.pathsep.join(filter(None, [str(self.kernel_python().parent), env.get("PATH", "")]))
        env.update(self.settings.kernel_env)
        env["PYTHONPATH"] = os.pathsep.join(self._python_path())
        return env

    def _kernelspec(self) -> Path:
        """A kernelspec that starts the kernel's interpreter (not whatever `python3` means to Jupyter)."""
        python = self.kernel_python()
        folder = self.kernels / f"cnn-tutorial-python-{_sha256(str(python).encode())[:8]}"
        spec = {
            "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3",
            "language": "python",
        }
        text = json.dumps(spec, indent=1)
        path = folder / "kernel.json"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        return folder

    def _package_files(self) -> list[Path]:
        """Every file of the watched package folders (sources and data), resolved."""
        found = []
        for folder in self.settings.packages:
            base = (self.settings.root / folder).resolve()
            if base.is_dir():
                found += [p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        return sorted(found)

    def _package_hashes(self) -> dict[str, str]:
        """The hash of every watched package file now (relative path -> sha256)."""
        root = self.settings.root.resolve()
        hashes = {}
        for path in self._package_files():
            try:
                hashes[path.relative_to(root).as_posix()] = _sha256(path.read_bytes())
            except (OSError, ValueError):
                continue
        return hashes

    def _dependencies(self, workdir: Path, before: dict[str, str], name: str) -> dict[str, str]:
        """The watched package files this notebook used, with their hashes from *before* it ran.

        A file that changed while the notebook ran is recorded with its old hash (or none, if it
        is new), so the next build misses and executes again; a warning says so.
        """
        imported: list[tuple[str, str]] = []
        for record in [workdir / _MODULES_FILE, *sorted((workdir / ".imports").glob("imports-*.json"))]:
            try:
                imported += [tuple(pair) for pair in json.loads(record.read_text(encoding="utf-8"))]
            except (OSError, ValueError, TypeError):
                continue
        root = self.settings.root.resolve()
        folders = [(root / folder).resolve() for folder in self.settings.packages]
        by_name = {folder.name: folder for folder in folders}
        installed = self._wheel_environment.purelib.resolve() if self.settings.wheel and self._wheel_environment else None
        used: set[Path] = set()
        for module, file in imported:
            path = Path(file).resolve()
            home = by_name.get(module.split(".")[0])
            if installed is not None and home is not None:
                # the wheel's copy of a watched module stands for its source file (the wheel is built from it)
                copy_home = installed / home.name
                if not path.is_relative_to(copy_home):
                    raise NotebookError(
                        f"{name} imported {module} from {file}, not from the installed wheel in {copy_home}: "
                        "the kernel must see the package as a reader who installed the wheel does"
                    )
                path = home / path.relative_to(copy_home)
            if home is not None and not path.is_relative_to(home):
                raise NotebookError(
                    f"{name} imported {module} from {file}, not from {home}: the cache follows the files "
                    f"in {home}, so this page would not. Uninstall that copy or remove it from sys.path"
                )
            for folder in folders:
                if path.is_relative_to(folder):
                    used.add(path)
                    # data files of a package it imported (a shipped corpus, say)
                    used.update(
                        p
                        for p in folder.rglob("*")
                        if p.is_file() and p.suffix not in (".py", ".pyc", ".md") and "__pycache__" not in p.parts
                    )
        dependencies, changed = {}, []
        for path in sorted(used):
            relative = path.relative_to(root).as_posix()
            self._file_hashes.pop(self.settings.root / relative, None)
            now = self._hash_file(relative) or ""
            dependencies[relative] = before.get(relative, "")
            if now != dependencies[relative]:
                changed.append(relative)
        if changed:
            self.log.warning(
                f"{name}: {', '.join(changed)} changed while it executed; "
                "its outputs are from the old version, and the next build executes it again"
            )
        return dependencies

    def _pages_line(self, job: Job, cell_index: int | None = None) -> str:
        names = []
        for page, text in job.pages.items():
            if cell_index is None:
                names.append(page)
                continue
            lines = code_cell_lines(text)
            line = lines[cell_index] if cell_index < len(lines) else None
            names.append(f"{page}:{line}" if line else page)
        return names[0] + (f" (also {', '.join(names[1:])})" if len(names) > 1 else "")

    @staticmethod
    def _code_index(notebook, cell_index: int | None) -> int | None:
        """The chapter's own code-cell number (0-based) of notebook cell `cell_index`, if it is one."""
        if cell_index is None:
            return None
        codes = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        if cell_index not in codes[1:-1]:
            return None  # the hidden setup or record cell
        return codes.index(cell_index) - 1

    def _describe_failure(self, job: Job, notebook, message: str) -> str:
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        index = next(
            (i for i, cell in enumerate(cells) if any(o.get("output_type") == "error" for o in cell.get("outputs", []))),
            None,
        )
        if index is None or index == 0 or index == len(cells) - 1:
            return f"{self._pages_line(job)}: the notebook's setup failed:\n{message}"
        cell_index = index - 1  # the hidden setup cell comes first
        return f"{self._pages_line(job, cell_index)}: code cell {cell_index + 1} failed:\n{message}"


def execution_order(jobs: list[Job], durations: dict[str, float]) -> list[Job]:
    """`jobs` longest first, so that the workers finish together: by the seconds each chapter took
    last time (`durations`), and before those the chapters never timed, the one with the most code
    first. In a fresh clone nothing is timed: laid out on two workers, the 23 chapters' measured
    execution times (518 s in all) end at 260 s in this order against 275 s in the order the
    pages come in (alphabetical).
    """

    def code_length(job: Job) -> int:
        return sum(len(cell.source) for cell in job.notebook.cells if cell.cell_type == "code")

    return sorted(jobs, key=lambda job: (-durations.get(_duration_name(job.name), float("inf")), -code_length(job)))


def _duration_name(page: str) -> str:
    """Durations are kept per chapter, whichever language or tool executed it.

    Examples:
        >>> _duration_name("docs/zh/rnn.md"), _duration_name("en/rnn.md")
        ('rnn.md', 'rnn.md')
    """
    return Path(page).name


def _kill_process_group(pid: int | None) -> None:
    """Kill a kernel and everything in its session (kernels start in a session of their own)."""
    if not pid:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass


def _listing(folder: Path, pattern: str) -> list[Path]:
    """`folder.glob(pattern)`, or nothing if the folder is missing (or goes missing meanwhile)."""
    try:
        return list(folder.glob(pattern))
    except OSError:
        return []


def _older_than(path: Path, limit: float) -> bool:
    """Whether `path` was last modified before `limit`; False if it is gone (another build removed it)."""
    try:
        return path.stat().st_mtime < limit
    except OSError:
        return False


def _temp_root() -> str:
    """The system's temporary folder, or `/tmp` when that one's path is too long for sockets.

    A chapter's sockets are made some 40 bytes below this folder (multiprocessing's
    `pymp-XXXXXXXX/listener-XXXXXXXX`), and a socket path may not exceed 107 bytes.
    """
    root = tempfile.gettempdir()
    if len(os.fsencode(root)) > 48 and os.access("/tmp", os.W_OK):
        return "/tmp"
    return root


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _written_files(folder: Path, name: str, limit: int) -> dict[str, str]:
    """The files a notebook left in its working folder, to publish next to its page."""
    import base64

    files = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.stat().st_size > limit:
            raise NotebookError(
                f"{name} wrote {path.name} ({path.stat().st_size:,} bytes); "
                f"files published with a page may be at most {limit:,} bytes"
            )
        files[path.name] = base64.b64encode(path.read_bytes()).decode("ascii")
    return files

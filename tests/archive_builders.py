"""Tiny CIFAR-10 and MNIST files in their published formats, and a local HTTP server, for tests.

The CIFAR-10 batches are written opcode by opcode the way Python 2's cPickle
wrote the real ones (protocol 2, byte strings, `numpy.core.multiarray`),
because that is what `load_cifar10` meets in the real archive and what a
Python 3 `pickle.dumps` does not produce.
"""

import functools
import gzip
import hashlib
import http.server
import io
import socket
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ---------------------------------------------------------------- a pickle as Python 2 wrote it


def _py2_str(data: bytes) -> bytes:
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING
    return b"T" + struct.pack("<i", len(data)) + data  # BINSTRING


def _py2_int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])  # BININT1
    return b"J" + struct.pack("<i", value)  # BININT


def _py2_uint8_array(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8 and array.flags.c_contiguous
    shape = b"(" + b"".join(_py2_int(n) for n in array.shape) + b"t"
    dtype = (
        b"cnumpy\ndtype\n" + _py2_str(b"u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
        b"(" + _py2_int(3) + _py2_str(b"|") + b"NNN" + _py2_int(-1) + _py2_int(-1) + _py2_int(0) + b"tb"
    )
    return (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + _py2_int(0) + b"\x85" + _py2_str(b"b") + b"\x87R"
        + b"(" + _py2_int(1) + shape + dtype + b"\x89" + _py2_str(array.tobytes()) + b"tb"
    )


def _py2_value(value) -> bytes:
    if isinstance(value, np.ndarray):
        return _py2_uint8_array(value)
    if isinstance(value, bytes):
        return _py2_str(value)
    if isinstance(value, str):
        return _py2_str(value.encode("latin1"))
    if isinstance(value, int):
        return _py2_int(value)
    if isinstance(value, list):
        return b"](" + b"".join(_py2_value(v) for v in value) + b"e"
    raise TypeError(type(value))


def py2_pickle(content: dict) -> bytes:
    """A dict pickled as Python 2's cPickle.dump(..., protocol=2) would."""
    items = b"".join(_py2_value(key) + _py2_value(value) for key, value in content.items())
    return b"\x80\x02}(" + items + b"u."


# ---------------------------------------------------------------- CIFAR-10


def cifar_batches(per_batch: int = 4, test: int = 6, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Random uint8 rows shaped (N, 3072) and labels for data_batch_1..5 and test_batch."""
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {
        name: (
            rng.integers(0, 256, size=(test if name == "test_batch" else per_batch, 3072), dtype=np.uint8),
            [int(v) for v in rng.integers(0, 10, size=test if name == "test_batch" else per_batch)],
        )
        for name in names
    }


def cifar_files(batches: dict, dumps=py2_pickle) -> dict[str, bytes]:
    """The contents of cifar-10-batches-py/: one pickle per batch, and batches.meta."""
    files = {
        name: dumps({"batch_label": f"{name} of 5", "labels": labels, "data": data, "filenames": ["x.png"] * len(data)})
        for name, (data, labels) in batches.items()
    }
    files["batches.meta"] = dumps({"num_cases_per_batch": 10000, "label_names": CIFAR_CLASSES, "num_vis": 3072})
    return files


def write_tar_gz(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    """A .tar.gz with the given files, plus raw members (links, odd paths) for attacks."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def write_cifar_archive(folder: Path, batches: dict, dumps=py2_pickle) -> Path:
    """folder/cifar-10-python.tar.gz, laid out like the real one."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"cifar-10-batches-py/{name}": content for name, content in cifar_files(batches, dumps).items()}
    return write_tar_gz(folder / "cifar-10-python.tar.gz", files)


def write_cifar_folder(folder: Path, batches: dict, dumps=py2_pickle) -> Path:
    """folder/cifar-10-batches-py/, as the archive unpacks to (what the loader reads)."""
    unpacked = folder / "cifar-10-batches-py"
    unpacked.mkdir(parents=True, exist_ok=True)
    for name, content in cifar_files(batches, dumps).items():
        (unpacked / name).write_bytes(content)
    return unpacked


# ---------------------------------------------------------------- MNIST


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes: magic number, big-endian sizes, values."""
    magic = magic if magic is not None else 0x0800 + array.ndim
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes()


def mnist_arrays(train: int = 12, test: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28×28 images and labels for the four MNIST files (keyed by file stem)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", train), ("t10k", test)):
        arrays[f"{prefix}-images-idx3-ubyte"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte"] = rng.integers(0, 10, size=n, dtype=np.uint8)
    return arrays


def write_mnist(folder: Path, arrays: dict[str, np.ndarray], gzipped: bool = True) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stem, array in arrays.items():
        content = idx_bytes(array)
        path = folder / (f"{stem}.gz" if gzipped else stem)
        path.write_bytes(gzip.compress(content, mtime=0) if gzipped else content)
        paths[stem] = path
    return paths


# ---------------------------------------------------------------- checksums and a server


def digests(path: Path) -> dict[str, str]:
    data = Path(path).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class FileServer:
    """Serves a folder over HTTP on 127.0.0.1 (a free port) in a thread, counting requests."""

    def __init__(self, folder: Path):
        self.requests: list[str] = []
        server = self

        class Handler(_QuietHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.path.startswith("/broken/"):
                    # Promise 1,000 bytes, send 10, hang up: a transfer cut off midway.
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"0123456789")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: what a machine without network sees."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"

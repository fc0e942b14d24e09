"""CIFAR-10 and MNIST from the files their authors publish: download, check, unpack, read.

中文：CIFAR-10 与 MNIST 的原始发布文件：下载、校验、安全解包、读取。

The site builds without a network, so its chapters use bundled and generated
data (`cnn_tutorial.data`). This module is for a reader who has the real
archives, or can download them:

- `load_cifar10(root, split)` reads CIFAR-10's *python version*,
  `cifar-10-python.tar.gz`: a tar archive of pickled batches `data_batch_1`
  … `data_batch_5`, `test_batch` and `batches.meta`. Each batch holds
  `data`, uint8 shaped (N, 3072) — 1,024 red, then 1,024 green, then 1,024
  blue values, row by row — and `labels`, N integers.
- `load_mnist(root, split)` reads MNIST's four IDX files (gzipped or not):
  a big-endian header (magic number 2051 for images, 2049 for labels, then
  the size of each dimension) followed by the raw bytes.
- `download_cifar10(root)` and `download_mnist(root)` fetch the files once,
  check them against their published SHA-256 and MD5 checksums, and (for
  CIFAR-10) unpack the archive, refusing any member that could write outside
  `root`. A failed download leaves nothing behind. An archive placed in
  `root` by hand is checked and unpacked the same way, without the network.

The loaders only read: they never unpack or write, so any number of
processes (torchrun) can load the same folder at once. Checking and
unpacking happen once, in `download_cifar10`/`download_mnist`.

Both loaders return an `ImageSet` with pixel values scaled to [0, 1]. The
pickles are read by an unpickler that only builds NumPy arrays, lists,
strings and numbers: a pickle can otherwise run any code while it loads.

Expected files under `root`::

    root/cifar-10-python.tar.gz        (or the folder it unpacks to:)
    root/cifar-10-batches-py/          data_batch_1 … data_batch_5, test_batch, batches.meta
    root/train-images-idx3-ubyte.gz    train-labels-idx1-ubyte.gz
    root/t10k-images-idx3-ubyte.gz     t10k-labels-idx1-ubyte.gz   (".gz" optional)
"""

import codecs
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from tqdm import tqdm

from cnn_tutorial.data import ImageSet, check_split


class DownloadError(OSError):
    """A download failed: no network, an HTTP error, a broken transfer or a wrong checksum.

    Nothing is left at the destination when it is raised.
    """


class ArchiveError(ValueError):
    """A file is not what it should be: wrong magic number, truncated, corrupt, or unsafe to unpack."""


@dataclass(frozen=True)
class RemoteFile:
    """A published file: its name and the checksums its publishers give for it.

    Args:
        name: The file name, the last part of its URL.
        sha256: Hex SHA-256 digest of the whole file.
        md5: Hex MD5 digest, where one is published (checked too).
    """

    name: str
    sha256: str
    md5: str | None = None


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"
# SHA-256 as Keras checks it; MD5 as the CIFAR page and torchvision publish it.
CIFAR10_ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    md5="c58f30108f718f92721af3b95e74349a",
)
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}

# One of the two mirrors torchvision's mnist.py lists (the other is http://yann.lecun.com/exdb/mnist/).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# SHA-256 as TensorFlow Datasets publishes them (for the same files); MD5 as torchvision's mnist.py does.
MNIST_FILES = {
    "train-images-idx3-ubyte": RemoteFile(
        "train-images-idx3-ubyte.gz",
        sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    "train-labels-idx1-ubyte": RemoteFile(
        "train-labels-idx1-ubyte.gz",
        sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        md5="d53e105ee54ea40749a09fcbcd1e9432",
    ),
    "t10k-images-idx3-ubyte": RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        md5="9fb629c4189551a2d022fa330f9573f3",
    ),
    "t10k-labels-idx1-ubyte": RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        md5="ec29112dd5afa0611ce80d1b7f02629c",
    ),
}
MNIST_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_IMAGES_MAGIC, MNIST_LABELS_MAGIC = 2051, 2049

# IDX type byte -> element type; every IDX number is big-endian.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_TYPE_NAMES = {
    0x08: "unsigned bytes",
    0x09: "signed bytes",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


# ---------------------------------------------------------------- reading


def load_cifar10(root: str | Path, split: str) -> ImageSet:
    """CIFAR-10's training (50,000) or test (10,000) images from the python archive.

    Reads `root/cifar-10-batches-py/`, the folder the archive unpacks to, and
    writes nothing. If only `root/cifar-10-python.tar.gz` is there, unpack it
    first with `download_cifar10(root)`, which checks its checksums and
    unpacks it safely (`extract_tar` unpacks an archive of your own).

    Args:
        root: Folder holding the archive or the folder it unpacks to.
        split: `"train"` (data_batch_1 … 5) or `"test"` (test_batch).

    Returns:
        Images shaped (N, 3, 32, 32) with values in [0, 1]; the class names
        come from `batches.meta`.

    Raises:
        FileNotFoundError: If the unpacked folder is not in `root` (the
            message says whether the archive is, waiting to be unpacked).
        ArchiveError: If a batch is corrupt or not shaped like CIFAR-10's.
        ValueError: If `split` is not `"train"` or `"test"`.

    Examples:
        >>> load_cifar10("no/such/folder", "train")
        Traceback (most recent call last):
            ...
        FileNotFoundError: no CIFAR-10 in no/such/folder: expected cifar-10-batches-py/ or cifar-10-python.tar.gz...
    """
    check_split(split)
    folder = _cifar10_folder(Path(root))
    meta = _read_pickle(folder / "batches.meta")
    classes = [_text(name) for name in _field(meta, "label_names", folder / "batches.meta")]
    images, labels = [], []
    for name in CIFAR10_BATCHES[split]:
        path = folder / name
        batch = _read_pickle(path)
        data, batch_labels = _field(batch, "data", path), _field(batch, "labels", path)
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072):
            got = f"{data.dtype} shaped {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise ArchiveError(f"{path}: expected 'data' as uint8 shaped (N, 3072), got {got}")
        if len(batch_labels) != len(data):
            raise ArchiveError(f"{path}: {len(data)} images but {len(batch_labels)} labels")
        images.append(data.reshape(-1, 3, 32, 32))  # 3072 = 3 channels × 32 rows × 32 columns
        labels.extend(batch_labels)
    pixels = torch.from_numpy(np.concatenate(images)).float().div_(255)
    return ImageSet(pixels, torch.tensor(labels, dtype=torch.long), classes)


def load_mnist(root: str | Path, split: str) -> ImageSet:
    """MNIST's training (60,000) or test (10,000) digits from its IDX files.

    Looks for each file in `root`, then in `root/MNIST/raw` (where torchvision
    puts them), gzipped (`.gz`) or not.

    Args:
        root: Folder holding the four IDX files.
        split: `"train"` (train-*) or `"test"` (t10k-*).

    Returns:
        Images shaped (N, 1, 28, 28) with values in [0, 1], classes `"0"`…`"9"`.

    Raises:
        FileNotFoundError: If a file is missing.
        ArchiveError: If a file has the wrong magic number, is truncated or
            corrupt, or the images and labels do not pair up.
        ValueError: If `split` is not `"train"` or `"test"`.

    Examples:
        >>> load_mnist("no/such/folder", "test")
        Traceback (most recent call last):
            ...
        FileNotFoundError: no t10k-images-idx3-ubyte(.gz) in no/such/folder...
    """
    check_split(split)
    images_name, labels_name = MNIST_SPLITS[split]
    images = read_idx(_find_idx(Path(root), images_name), magic=MNIST_IMAGES_MAGIC)
    labels = read_idx(_find_idx(Path(root), labels_name), magic=MNIST_LABELS_MAGIC)
    if len(images) != len(labels):
        raise ArchiveError(f"MNIST {split} split in {root}: {len(images)} images but {len(labels)} labels")
    pixels = torch.from_numpy(images.astype(np.float32)).unsqueeze(1).div_(255)
    return ImageSet(pixels, torch.from_numpy(labels.astype(np.int64)), [str(d) for d in range(10)])


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped or not, into a NumPy array.

    The header is 4 bytes of magic number — two zero bytes, a type byte
    (0x08 = unsigned byte) and the number of dimensions — then one
    big-endian 4-byte size per dimension; the values follow. So 2051 =
    0x00000803 announces unsigned bytes in 3 dimensions (images), 2049 =
    0x00000801 in 1 dimension (labels).

    Args:
        path: The file; gzip is recognised by its first bytes, not its name.
        magic: The magic number the file must have, or `None` for any IDX file.

    Returns:
        An array shaped as the header says (read-only: a view of the file's bytes).

    Raises:
        ArchiveError: If the magic number is not `magic` (or not an IDX one),
            or the file is shorter or longer than its header says, or it is
            not a readable gzip file.

    Examples:
        >>> import struct, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "tiny-idx1-ubyte"
        >>> _ = path.write_bytes(struct.pack(">IIBBB", 2049, 3, 7, 0, 9))
        >>> read_idx(path, magic=2049)
        array([7, 0, 9], dtype=uint8)
        >>> read_idx(path, magic=2051)
        Traceback (most recent call last):
            ...
        cnn_tutorial.archives.ArchiveError: .../tiny-idx1-ubyte has magic number 2049 (unsigned bytes in 1 dimension), expected 2051 (unsigned bytes in 3 dimensions)
    """
    path = Path(path)
    raw = _read_maybe_gzipped(path)
    if len(raw) < 4:
        raise ArchiveError(f"{path} has {len(raw)} bytes; an IDX file starts with a 4-byte magic number")
    found = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\0\0" or type_code not in IDX_TYPES:
        expected = f"{magic} ({_describe_magic(magic)})" if magic else "an IDX magic number 0x0000TTDD"
        raise ArchiveError(f"{path} is not an IDX file: magic number {found} (0x{found:08x}), expected {expected}")
    if magic is not None and found != magic:
        raise ArchiveError(
            f"{path} has magic number {found} ({_describe_magic(found)}), expected {magic} ({_describe_magic(magic)})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ArchiveError(f"{path} is truncated: {len(raw)} bytes, but its header alone needs {header}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[type_code])
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found_bytes = len(raw) - header
    if found_bytes != expected_bytes:
        state = "truncated" if found_bytes < expected_bytes else "longer than its header says"
        raise ArchiveError(
            f"{path} is {state}: the header announces shape {shape}, {expected_bytes} bytes of values, "
            f"but {found_bytes} follow"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


# ---------------------------------------------------------------- downloading


def download_cifar10(root: str | Path, mirror: str | None = None, timeout: float = 60.0) -> Path:
    """Download CIFAR-10's python archive into `root`, check it and unpack it.

    Does nothing that is already done: a complete unpacked folder is kept,
    and an archive already in `root` that matches the checksums is not
    downloaded again; so an archive placed there by hand is checked and
    unpacked without the network. An incomplete `cifar-10-batches-py/` (from an earlier
    attempt, or with files deleted) is removed and unpacked afresh.

    Args:
        root: Folder for `cifar-10-python.tar.gz` and `cifar-10-batches-py/`.
        mirror: Base URL of a server with the same file; default `CIFAR10_URL`.
        timeout: Seconds to wait for the server before giving up.

    Returns:
        The unpacked folder, `root/cifar-10-batches-py`.

    Raises:
        DownloadError: If offline, the server refuses, or the checksums differ.
        ArchiveError: If the archive is corrupt or holds an unsafe member.

    Examples:
        >>> download_cifar10(tempfile.mkdtemp(), mirror="http://127.0.0.1:9/", timeout=5)  # nothing listens there
        Traceback (most recent call last):
            ...
        cnn_tutorial.archives.DownloadError: cannot download http://127.0.0.1:9/cifar-10-python.tar.gz: no network connection (...); download it on a machine with network access and place it at ...
    """
    root = Path(root)
    folder = root / CIFAR10_FOLDER
    if _cifar10_complete(folder):
        return folder
    archive = download_file(_join(mirror or CIFAR10_URL, CIFAR10_ARCHIVE.name), root, CIFAR10_ARCHIVE, timeout)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    extract_tar(archive, root)
    if not _cifar10_complete(folder):
        raise ArchiveError(f"{archive} did not contain {CIFAR10_FOLDER}/ with {_cifar10_names()}")
    return folder


def download_mnist(root: str | Path, mirror: str | None = None, timeout: float = 60.0) -> Path:
    """Download MNIST's four gzipped IDX files into `root` and check them.

    Files already in `root` that match their checksums are not downloaded again.

    Args:
        root: Folder for the four `.gz` files (`load_mnist` reads them as they are).
        mirror: Base URL of a server with the same files; default `MNIST_URL`.
        timeout: Seconds to wait for the server before giving up.

    Returns:
        `root`.

    Raises:
        DownloadError: If offline, the server refuses, or a checksum differs.

    Examples:
        >>> sorted(remote.name for remote in MNIST_FILES.values())
        ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
         'train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']
    """
    root = Path(root)
    for remote in MNIST_FILES.values():
        download_file(_join(mirror or MNIST_URL, remote.name), root, remote, timeout)
    return root


def download_file(url: str, folder: str | Path, remote: RemoteFile, timeout: float = 60.0) -> Path:
    """Download `url` to `folder/remote.name`, all or nothing, and check its checksums.

    The bytes go to a temporary file in the same folder, which is renamed to
    its final name only after every byte has arrived and the checksums
    match. An interrupted or wrong download therefore never leaves a file
    that looks complete. A file already there with the right checksums is
    kept without downloading.

    Args:
        url: Where to download from (`http://`, `https://` or `file://`).
        folder: Where to put the file; created if missing.
        remote: The file's name and published checksums.
        timeout: Seconds to wait for the server before giving up.

    Returns:
        The path of the checked file.

    Raises:
        DownloadError: If the network or server fails (the message says how
            to place the file by hand) or the checksums differ (the download
            is deleted).

    Examples:
        A `file://` URL needs no network:

        >>> source = Path(tempfile.mkdtemp()) / "hello.txt"
        >>> _ = source.write_bytes(b"hello")
        >>> remote = RemoteFile("hello.txt", sha256=hashlib.sha256(b"hello").hexdigest())
        >>> folder = Path(tempfile.mkdtemp())
        >>> download_file(source.as_uri(), folder, remote).read_bytes()
        b'hello'
        >>> download_file(source.as_uri(), folder / "other", RemoteFile("hello.txt", sha256="0" * 64))
        Traceback (most recent call last):
            ...
        cnn_tutorial.archives.DownloadError: file:///.../hello.txt does not match its published checksum: expected SHA256 000...000, got 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824; the download was deleted. ...
        >>> list((folder / "other").iterdir())
        []
    """
    folder = Path(folder)
    destination = folder / remote.name
    found = _checksum_problem(destination, remote) if destination.exists() else None
    if destination.exists() and not found:
        return destination
    folder.mkdir(parents=True, exist_ok=True)
    by_hand = (
        f"download it on a machine with network access and place it at {destination} "
        f"(it must have SHA-256 {remote.sha256}), or pass another mirror"
    )
    if found:
        by_hand += f" (the file there now does not match: {found})"
    handle, partial_name = tempfile.mkstemp(dir=folder, prefix=f".{remote.name}.", suffix=".part")
    partial = Path(partial_name)
    try:
        with os.fdopen(handle, "wb") as file:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    received = 0
                    with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name, disable=None) as bar:
                        while chunk := response.read(1 << 20):
                            file.write(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    if total is not None and received != total:
                        raise http.client.IncompleteRead(b"", total - received)
            except urllib.error.HTTPError as error:
                raise DownloadError(
                    f"cannot download {url}: the server answered {error.code} {error.reason}; {by_hand}"
                ) from None
            except urllib.error.URLError as error:
                cause = "cannot read it" if url.startswith("file:") else "no network connection"
                raise DownloadError(f"cannot download {url}: {cause} ({error.reason}); {by_hand}") from None
            except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
                raise DownloadError(
                    f"the download of {url} broke off ({type(error).__name__}: {error}); nothing was kept, "
                    f"try again, or {by_hand}"
                ) from None
            file.flush()
            os.fsync(file.fileno())
        problem = _checksum_problem(partial, remote)
        if problem:
            raise DownloadError(
                f"{url} does not match its published checksum: {problem}; the download was deleted. "
                "The transfer was corrupted or the server has another file: try again or another mirror"
            )
        os.replace(partial, destination)  # atomic: the final name appears only for a checked file
    finally:
        partial.unlink(missing_ok=True)
    return destination


def extract_tar(archive: str | Path, target: str | Path) -> list[str]:
    """Unpack a tar archive (plain or compressed) into `target`, refusing anything unsafe.

    A tar member can be named `../../.bashrc` or `/etc/passwd`, or be a
    link pointing anywhere; unpacking it blindly writes outside `target`.
    Every member is checked first — it must be a plain file or folder whose
    path stays inside `target` — and the archive is then unpacked with
    tarfile's `"data"` filter, which enforces the same rules again. The
    members go to a temporary folder first and are moved into place at the
    end, so a failure leaves no half-unpacked folder.

    Args:
        archive: A `.tar`, `.tar.gz`, `.tar.bz2` or `.tar.xz` file.
        target: The folder to unpack into; created if missing. Nothing in it
            is overwritten: a top-level entry of the archive that already
            exists there is an error.

    Returns:
        The names of the archive's top-level entries.

    Raises:
        ArchiveError: If the archive is corrupt, or a member is a link, a
            device, has an absolute path or a path that leaves `target`, or
            a top-level entry already exists in `target`.

    Examples:
        >>> import io
        >>> folder = Path(tempfile.mkdtemp())
        >>> with tarfile.open(folder / "evil.tar.gz", "w:gz") as tar:
        ...     member = tarfile.TarInfo("../outside.txt")
        ...     member.size = 5
        ...     tar.addfile(member, io.BytesIO(b"gotcha"))
        >>> extract_tar(folder / "evil.tar.gz", folder / "target")
        Traceback (most recent call last):
            ...
        cnn_tutorial.archives.ArchiveError: refusing to unpack .../evil.tar.gz: member '../outside.txt' is unsafe (its path leaves the target folder); expected only plain files and folders inside the target folder
        >>> sorted(path.name for path in folder.iterdir())  # nothing was written
        ['evil.tar.gz']
    """
    archive, target = Path(archive), Path(target)
    try:
        with tarfile.open(archive) as tar:
            seen = set()
            for member in tar.getmembers():
                _check_member(member, archive)
                name = PurePosixPath(member.name).as_posix()
                if name in seen:  # a later copy would silently replace the first (or fail half-way)
                    raise ArchiveError(
                        f"refusing to unpack {archive}: member {member.name!r} appears twice; "
                        "expected each file once, download it again"
                    )
                seen.add(name)
            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target, prefix=".unpacking-"))
            try:
                _extract_members(tar, staging)
                top = sorted(entry.name for entry in staging.iterdir())
                existing = [name for name in top if os.path.lexists(target / name)]
                if existing:
                    raise ArchiveError(
                        f"refusing to unpack {archive}: {', '.join(existing)} already exist(s) in {target}; "
                        "move or delete it first"
                    )
                for name in top:
                    os.replace(staging / name, target / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except tarfile.TarError as error:
        raise ArchiveError(f"{archive} is not a readable tar archive ({_one_line(error)}); download it again") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{archive} is truncated or corrupt ({_one_line(error)}); download it again") from None
    return top


# ---------------------------------------------------------------- helpers


def _extract_members(tar: tarfile.TarFile, folder: Path) -> None:
    """Unpack checked members, with tarfile's "data" filter where this Python has it.

    The filter arrived in Python 3.11.4 (and in 3.8.17, 3.9.17, 3.10.12 as a
    security backport); Debian 12's own 3.11.2 lacks it. There, the members,
    already checked to be plain files and folders inside the target, are
    written one by one, with the same guarantees the filter gives: no path
    outside `folder`, no links or devices, no set-uid or executable bits.
    """
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    root = folder.resolve()
    for member in tar.getmembers():
        destination = (folder / member.name).resolve()
        if destination != root and root not in destination.parents:
            raise ArchiveError(f"member {member.name!r} would be written outside {folder}")
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:  # not a regular file: _check_member refused those already
            raise ArchiveError(f"member {member.name!r} is not a plain file")
        try:
            out = open(destination, "xb")
        except FileExistsError:  # extract_tar refuses duplicates first; this guards the staging folder
            raise ArchiveError(f"member {member.name!r} would overwrite a file already unpacked") from None
        with source, out:
            shutil.copyfileobj(source, out)
        destination.chmod(0o644)


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    path = PurePosixPath(name)
    if member.issym() or member.islnk():
        why = f"it is a link to {member.linkname!r}"
    elif not (member.isfile() or member.isdir()):
        why = "it is not a plain file or folder"
    elif path.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        why = "its path is absolute"
    elif ".." in path.parts:
        why = "its path leaves the target folder"
    else:
        return
    raise ArchiveError(
        f"refusing to unpack {archive}: member {name!r} is unsafe ({why}); "
        "expected only plain files and folders inside the target folder"
    )


def _cifar10_folder(root: Path) -> Path:
    folder = root / CIFAR10_FOLDER
    if folder.is_dir():
        return folder
    archive = root / CIFAR10_ARCHIVE.name
    if archive.is_file():
        raise FileNotFoundError(
            f"{root} holds {CIFAR10_ARCHIVE.name} but not the folder it unpacks to, {CIFAR10_FOLDER}/: "
            f"unpack first with download_cifar10({str(root)!r}), which checks the archive's checksums and unpacks "
            "it safely (on the command line: run once with --download, in one process)"
        )
    raise FileNotFoundError(
        f"no CIFAR-10 in {root}: expected {CIFAR10_FOLDER}/ or {CIFAR10_ARCHIVE.name}; "
        f"download it with download_cifar10({str(root)!r}) (or --download), or place "
        f"{CIFAR10_URL}{CIFAR10_ARCHIVE.name} there by hand"
    )


def _cifar10_names() -> list[str]:
    return [*CIFAR10_BATCHES["train"], *CIFAR10_BATCHES["test"], "batches.meta"]


def _cifar10_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _cifar10_names())


def _find_idx(root: Path, stem: str) -> Path:
    for folder in (root, root / "MNIST" / "raw"):
        for name in (stem, f"{stem}.gz"):
            if (folder / name).is_file():
                return folder / name
    raise FileNotFoundError(
        f"no {stem}(.gz) in {root} (nor in {root / 'MNIST' / 'raw'}); download MNIST with "
        f"download_mnist({str(root)!r}) (or --download), or place {MNIST_URL}{stem}.gz there by hand"
    )


def _read_maybe_gzipped(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # gzip's own magic number
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(
            f"{path} is not a complete gzip file ({error}); expected a gzip-compressed IDX file, download it again"
        ) from None


def _describe_magic(magic: int) -> str:
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    kind = _IDX_TYPE_NAMES.get(type_code, f"unknown type 0x{type_code:02x}")
    return f"{kind} in {ndim} dimension{'s' * (ndim != 1)}"


class _Refused(pickle.UnpicklingError):
    """A pickle asked for a global that a CIFAR-10 batch never needs."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    # CIFAR-10's batches were pickled by Python 2 with NumPy: they need these
    # few globals and nothing else. Any other global (os.system, …) is refused.
    _reconstruct = np.zeros(0).__reduce__()[0]  # NumPy's array rebuilder, wherever this NumPy keeps it
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): lambda text, encoding="utf-8": _latin1_bytes(text, encoding),  # bytes, protocol 2
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise _Refused(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays, lists and strings"
            ) from None


def _latin1_bytes(text: str, encoding: str) -> bytes:
    # Python 3 pickles bytes in protocol 2 as _codecs.encode(text, "latin1"); no other codec is needed.
    if encoding != "latin1":
        raise _Refused(f"refusing to decode with {encoding!r}: a CIFAR-10 batch needs only latin1")
    return codecs.encode(text, "latin1")


def _read_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; expected the CIFAR-10 batches {_cifar10_names()}")
    try:
        with open(path, "rb") as file:
            # latin1 turns Python 2's byte strings into str without losing a byte (NumPy's advice).
            content = _ArraysOnlyUnpickler(file, encoding="latin1").load()
    except _Refused as error:
        raise ArchiveError(f"{path} is not a CIFAR-10 batch: {error}") from None
    # Only .load() is inside this try. A damaged byte stream makes the unpickler itself raise any
    # of these (a memo key that is missing, a stack that runs short, an array rebuilt from wrong
    # arguments); the code that runs here is the standard unpickler plus the table above.
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise ArchiveError(f"{path} is truncated or corrupt ({type(error).__name__}: {error})") from None
    if not isinstance(content, dict):
        raise ArchiveError(f"{path}: expected a pickled dict, got {type(content).__name__}")
    return {_text(key): value for key, value in content.items()}


def _field(batch: dict, key: str, path: Path):
    if key not in batch:
        raise ArchiveError(f"{path} has no {key!r}; its keys are {sorted(batch)}")
    return batch[key]


def _one_line(error: Exception) -> str:
    # tarfile lists every compression it tried on separate lines; an error message is one line.
    return " ".join(str(error).split())


def _text(value) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _join(base: str, name: str) -> str:
    return base if base.endswith("/" + name) else base.rstrip("/") + "/" + name


def _checksum_problem(path: Path, remote: RemoteFile) -> str | None:
    expected = {"sha256": remote.sha256, "md5": remote.md5}
    hashes = {kind: hashlib.new(kind) for kind, digest in expected.items() if digest}
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            for digest in hashes.values():
                digest.update(chunk)
    for kind, digest in hashes.items():
        if digest.hexdigest() != expected[kind].lower():
            return f"expected {kind.upper()} {expected[kind]}, got {digest.hexdigest()}"
    return None

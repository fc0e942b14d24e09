"""CIFAR-10 and MNIST loaders and downloads, on tiny files in the real formats served from 127.0.0.1."""

import gzip
import pickle
import re
import shutil
import textwrap
from pathlib import Path
import tarfile

import numpy as np
import pytest
import torch
from archive_builders import (
    CIFAR_CLASSES,
    FileServer,
    cifar_batches,
    cifar_files,
    closed_port_url,
    digests,
    idx_bytes,
    mnist_arrays,
    write_cifar_archive,
    write_cifar_folder,
    write_mnist,
    write_tar_gz,
)

from cnn_tutorial import archives
from cnn_tutorial.archives import (
    ArchiveError,
    DownloadError,
    RemoteFile,
    download_cifar10,
    download_file,
    download_mnist,
    extract_tar,
    load_cifar10,
    load_mnist,
    read_idx,
)


def expected_cifar(batches, names):
    data = np.concatenate([batches[name][0] for name in names])
    labels = [label for name in names for label in batches[name][1]]
    return torch.from_numpy(data.reshape(-1, 3, 32, 32)).float() / 255, torch.tensor(labels)


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ---------------------------------------------------------------- CIFAR-10: reading


@pytest.fixture
def batches():
    return cifar_batches(per_batch=4, test=6)


def test_cifar10_round_trip_from_an_archive_placed_by_hand(tmp_path, batches, tar_filter, monkeypatch):
    archive = write_cifar_archive(tmp_path, batches)
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile(archive.name, **digests(archive)))
    download_cifar10(tmp_path, mirror=closed_port_url())  # checked and unpacked; no network needed
    train, test = load_cifar10(tmp_path, "train"), load_cifar10(tmp_path, "test")
    images, labels = expected_cifar(batches, [f"data_batch_{i}" for i in range(1, 6)])
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.float32
    assert torch.equal(train.images, images) and torch.equal(train.labels, labels)
    images, labels = expected_cifar(batches, ["test_batch"])
    assert torch.equal(test.images, images) and torch.equal(test.labels, labels)
    assert train.classes == test.classes == tuple(CIFAR_CLASSES)
    assert (tmp_path / "cifar-10-batches-py" / "test_batch").is_file()  # unpacked once, next to the archive


def test_loading_never_unpacks_or_writes(tmp_path, batches):
    archive = write_cifar_archive(tmp_path, batches)
    with pytest.raises(FileNotFoundError, match=r"holds cifar-10-python.tar.gz but not the folder it unpacks to, "
                                                r"cifar-10-batches-py/: unpack first with download_cifar10\(.*run once "
                                                r"with --download"):
        load_cifar10(tmp_path, "test")
    assert files_under(tmp_path) == [archive.name]


def test_a_by_hand_archive_that_fails_its_checksum_is_not_unpacked(tmp_path, batches):
    write_cifar_archive(tmp_path, batches)  # not the published file: the real checksums do not match
    with pytest.raises(DownloadError, match=r"cifar-10-python.tar.gz: no network connection .*"
                                            r"\(the file there now does not match: expected SHA256 6d958be"):
        download_cifar10(tmp_path, mirror=closed_port_url())
    assert files_under(tmp_path) == ["cifar-10-python.tar.gz"]


def test_cifar10_channels_are_planes_not_interleaved(tmp_path):
    # The first 1,024 values of a row are red, the next green, then blue, each row by row.
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256]).astype(np.uint8)
    batches = {name: (row[None].copy(), [3]) for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]}
    write_cifar_folder(tmp_path, batches)
    image, label = load_cifar10(tmp_path, "test")[0]
    assert int(label) == 3
    assert torch.all(image[0] == 10 / 255) and torch.all(image[1] == 20 / 255)
    assert image[2, 0, 5] * 255 == pytest.approx(5) and image[2, 1, 0] * 255 == pytest.approx(32)


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_batches_pickled_by_python3_also_load(tmp_path, batches, protocol):
    write_cifar_folder(tmp_path, batches, lambda d: pickle.dumps(d, protocol=protocol))
    test = load_cifar10(tmp_path, "test")
    assert torch.equal(test.images, expected_cifar(batches, ["test_batch"])[0])


def test_cifar10_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected cifar-10-batches-py/ or cifar-10-python.tar.gz"):
        load_cifar10(tmp_path, "train")


def test_cifar10_bad_split(tmp_path):
    with pytest.raises(ValueError, match='split must be "train" or "test"'):
        load_cifar10(tmp_path, "validation")


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, batches, capsys):
    files = cifar_files(batches)
    files["test_batch"] = pickle.dumps({"data": _Boom(), "labels": [0]}, protocol=2)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    with pytest.raises(ArchiveError, match=r"refusing to load (__builtin__|builtins)\.print"):
        load_cifar10(tmp_path, "test")
    assert "must never run" not in capsys.readouterr().out


def test_bytes_decoded_with_another_codec_than_latin1_are_refused(tmp_path, batches):
    folder = write_cifar_folder(tmp_path, batches)
    # What protocol 2 writes for bytes, with another codec name: _codecs.encode("...", "rot13").
    blob = b"\x80\x02}q\x00X\x04\x00\x00\x00dataq\x01c_codecs\nencode\nX\x02\x00\x00\x00abX\x05\x00\x00\x00rot13\x86Rs."
    (folder / "test_batch").write_bytes(blob)
    with pytest.raises(ArchiveError, match="refusing to decode with 'rot13'"):
        load_cifar10(tmp_path, "test")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda blob: blob[: len(blob) // 2], "truncated or corrupt"),
        (lambda blob: b"", "truncated or corrupt"),
        (lambda blob: pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, 2), r"shaped \(N, 3072\)"),
        (lambda blob: pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, 2), "2 images but 1 labels"),
        (lambda blob: pickle.dumps({"pixels": 1}, 2), "has no 'data'"),
        (lambda blob: pickle.dumps([1, 2], 2), "expected a pickled dict, got list"),
    ],
    ids=["half", "empty", "wrong width", "labels short", "no data", "not a dict"],
)
def test_a_corrupt_batch(tmp_path, batches, damage, message):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, content in cifar_files(batches).items():
        (folder / name).write_bytes(damage(content) if name == "test_batch" else content)
    with pytest.raises(ArchiveError, match=message):
        load_cifar10(tmp_path, "test")


def test_a_truncated_archive_leaves_no_half_unpacked_folder(tmp_path, batches, tar_filter):
    archive = write_cifar_archive(tmp_path, batches)
    archive.write_bytes(archive.read_bytes()[:-300])
    with pytest.raises(ArchiveError, match="cifar-10-python.tar.gz is (truncated or corrupt|not a readable tar)"):
        extract_tar(archive, tmp_path)
    assert files_under(tmp_path) == ["cifar-10-python.tar.gz"]


def test_a_file_that_is_not_an_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"<html>Not Found</html>")
    with pytest.raises(ArchiveError, match="is not a readable tar archive"):
        extract_tar(tmp_path / "cifar-10-python.tar.gz", tmp_path)


# ---------------------------------------------------------------- unpacking safely


def _member(name, kind=tarfile.REGTYPE, linkname="", size=1):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, size if kind == tarfile.REGTYPE else 0
    return info


UNSAFE = {
    "parent path": (_member("cifar-10-batches-py/../../evil.txt"), "its path leaves the target folder"),
    "absolute path": (_member("/tmp/evil.txt"), "its path is absolute"),
    "symlink": (_member("cifar-10-batches-py/link", tarfile.SYMTYPE, "/etc/passwd"), "it is a link to '/etc/passwd'"),
    "hard link": (_member("cifar-10-batches-py/hard", tarfile.LNKTYPE, "../../x"), "it is a link"),
    "device": (_member("cifar-10-batches-py/dev", tarfile.CHRTYPE), "it is not a plain file or folder"),
}


@pytest.fixture(params=["tar filter", "no tar filter"])
def tar_filter(request, monkeypatch):
    """Run a test on this Python, and as on one without tarfile's "data" filter (3.11.0-3.11.3, Debian 12's 3.11.2)."""
    if request.param == "no tar filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

        def refuse_filter(self, *args, filter=None, **kwargs):
            if filter is not None:
                raise TypeError("extractall() got an unexpected keyword argument 'filter'")  # as 3.11.2 does
            return original(self, *args, **kwargs)

        original = tarfile.TarFile.extractall
        monkeypatch.setattr(tarfile.TarFile, "extractall", refuse_filter)
    return request.param


@pytest.mark.parametrize("member, why", UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe_members_are_refused_and_nothing_is_written(tmp_path, member, why, tar_filter):
    target = tmp_path / "a" / "b"
    archive = write_tar_gz(tmp_path / "evil.tar.gz", {"cifar-10-batches-py/ok": b"fine"}, [member])
    with pytest.raises(ArchiveError, match=f"member '{member.name}' is unsafe \\({why}"):
        extract_tar(archive, target)
    assert files_under(tmp_path) == ["evil.tar.gz"]


def test_a_member_twice_is_refused_and_nothing_is_written(tmp_path, tar_filter):
    archive = write_tar_gz(tmp_path / "twice.tar.gz", {"data/one": b"1"}, [_member("data/one", size=0)])
    with pytest.raises(ArchiveError, match="member 'data/one' appears twice"):
        extract_tar(archive, tmp_path / "out")
    assert files_under(tmp_path) == ["twice.tar.gz"]


def test_extract_tar_returns_top_level_names_and_never_overwrites(tmp_path, tar_filter):
    archive = write_tar_gz(tmp_path / "x.tar.gz", {"data/one": b"1", "data/two": b"2", "readme": b"r"})
    assert extract_tar(archive, tmp_path / "out") == ["data", "readme"]
    assert files_under(tmp_path / "out") == ["data", "data/one", "data/two", "readme"]
    (tmp_path / "other" / "data").mkdir(parents=True)
    (tmp_path / "other" / "data" / "mine").write_bytes(b"keep")
    with pytest.raises(ArchiveError, match="data already exist"):
        extract_tar(archive, tmp_path / "other")
    assert files_under(tmp_path / "other") == ["data", "data/mine"]


def test_download_cifar10_replaces_an_incomplete_folder(tmp_path, served):
    root = tmp_path / "data"
    download_cifar10(root, mirror=served.url)
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    download_cifar10(root, mirror=served.url)
    assert (root / "cifar-10-batches-py" / "test_batch").is_file()
    assert served.requests == ["/cifar-10-python.tar.gz"]  # the checked archive was reused


# ---------------------------------------------------------------- MNIST and IDX


@pytest.fixture
def mnist():
    return mnist_arrays(train=12, test=5)


@pytest.mark.parametrize("gzipped", [True, False], ids=["gz", "plain"])
def test_mnist_round_trip(tmp_path, mnist, gzipped):
    write_mnist(tmp_path, mnist, gzipped=gzipped)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        data = load_mnist(tmp_path, split)
        images, labels = mnist[f"{prefix}-images-idx3-ubyte"], mnist[f"{prefix}-labels-idx1-ubyte"]
        assert data.images.shape == (len(images), 1, 28, 28)
        assert torch.equal(data.images, torch.from_numpy(images).float().unsqueeze(1) / 255)
        assert data.labels.tolist() == labels.tolist()
        assert data.classes == tuple("0123456789")


def test_mnist_in_torchvisions_folder_layout(tmp_path, mnist):
    write_mnist(tmp_path / "MNIST" / "raw", mnist, gzipped=False)
    assert len(load_mnist(tmp_path, "test")) == 5


def test_mnist_missing_file(tmp_path, mnist):
    paths = write_mnist(tmp_path, mnist)
    paths["t10k-labels-idx1-ubyte"].unlink()
    with pytest.raises(FileNotFoundError, match=r"no t10k-labels-idx1-ubyte\(.gz\) in .*download_mnist"):
        load_mnist(tmp_path, "test")


def test_mnist_images_and_labels_must_pair_up(tmp_path, mnist):
    mnist["t10k-labels-idx1-ubyte"] = mnist["t10k-labels-idx1-ubyte"][:4]
    write_mnist(tmp_path, mnist)
    with pytest.raises(ArchiveError, match="5 images but 4 labels"):
        load_mnist(tmp_path, "test")


def test_mnist_files_swapped_give_the_wrong_magic_number(tmp_path, mnist):
    paths = write_mnist(tmp_path, mnist)
    images, labels = paths["t10k-images-idx3-ubyte"], paths["t10k-labels-idx1-ubyte"]
    images_bytes = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(images_bytes)
    with pytest.raises(
        ArchiveError,
        match=r"has magic number 2049 \(unsigned bytes in 1 dimension\), expected 2051 \(unsigned bytes in 3 dim",
    ):
        load_mnist(tmp_path, "test")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x00", "has 2 bytes; an IDX file starts with a 4-byte magic number"),
        (b"PK\x03\x04rest", "is not an IDX file: magic number 1347093252 \\(0x504b0304\\), expected 2051"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated: 8 bytes, but its header alone needs 16"),
        (idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-1], r"is truncated: .*shape \(2, 28, 28\), 1568 bytes .*1567"),
        (idx_bytes(np.zeros((2, 28, 28), np.uint8)) + b"!", "longer than its header says"),
        (gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))[:-12], "is not a complete gzip file"),
        (b"\x1f\x8b" + b"\x00" * 30, "is not a complete gzip file"),
    ],
    ids=["tiny", "zip not idx", "header cut", "values cut", "too long", "gzip cut", "gzip garbage"],
)
def test_read_idx_rejects_damaged_files(tmp_path, content, message):
    path = tmp_path / "images"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=message):
        read_idx(path, magic=2051)


def test_read_idx_other_types_and_any_magic(tmp_path):
    values = np.array([[1.5, -2.0], [0.25, 8.0]], dtype=">f4")
    path = tmp_path / "floats"
    path.write_bytes(b"\x00\x00\x0d\x02" + (2).to_bytes(4, "big") * 2 + values.tobytes())
    assert read_idx(path).tolist() == values.tolist()


# ---------------------------------------------------------------- downloads over HTTP


@pytest.fixture
def served(tmp_path, batches, mnist, monkeypatch):
    """A local server with a tiny CIFAR-10 archive and MNIST files; the module expects their checksums."""
    folder = tmp_path / "server"
    archive = write_cifar_archive(folder, batches)
    paths = write_mnist(folder / "mnist", mnist)
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile(archive.name, **digests(archive)))
    monkeypatch.setattr(
        archives, "MNIST_FILES", {stem: RemoteFile(path.name, **digests(path)) for stem, path in paths.items()}
    )
    with FileServer(folder) as server:
        yield server


def test_download_cifar10_checks_unpacks_and_loads(tmp_path, served, batches):
    root = tmp_path / "data"
    folder = download_cifar10(root, mirror=served.url)
    assert folder == root / "cifar-10-batches-py"
    names = sorted(["batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch"])
    unpacked = [f"cifar-10-batches-py/{name}" for name in names]
    assert files_under(root) == ["cifar-10-batches-py", *unpacked, "cifar-10-python.tar.gz"]
    assert torch.equal(load_cifar10(root, "test").images, expected_cifar(batches, ["test_batch"])[0])
    assert download_cifar10(root, mirror=served.url) == folder
    assert served.requests == ["/cifar-10-python.tar.gz"]  # the second call found everything in place


def test_a_verified_archive_is_not_downloaded_again(tmp_path, served):
    root = tmp_path / "data"
    download_cifar10(root, mirror=served.url)
    shutil.rmtree(root / "cifar-10-batches-py")
    download_cifar10(root, mirror=served.url)
    assert len(served.requests) == 1 and (root / "cifar-10-batches-py" / "batches.meta").is_file()


def test_download_mnist_and_load(tmp_path, served, mnist):
    root = tmp_path / "data"
    assert download_mnist(root, mirror=served.url + "mnist/") == root
    assert sorted(p.name for p in root.iterdir()) == sorted(f"{stem}.gz" for stem in mnist)
    assert load_mnist(root, "train").labels.tolist() == mnist["train-labels-idx1-ubyte"].tolist()


def test_checksum_mismatch_names_both_digests_and_leaves_no_file(tmp_path, served, monkeypatch):
    wrong = "0" * 64
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile("cifar-10-python.tar.gz", sha256=wrong))
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as error:
        download_cifar10(root, mirror=served.url)
    message = str(error.value)
    assert message.startswith(f"{served.url}cifar-10-python.tar.gz does not match its published checksum: ")
    assert f"expected SHA256 {wrong}, got " in message and "the download was deleted" in message
    assert files_under(root) == []


def test_a_wrong_md5_alone_is_caught(tmp_path, served, monkeypatch):
    right = archives.CIFAR10_ARCHIVE
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile(right.name, sha256=right.sha256, md5="f" * 32))
    with pytest.raises(DownloadError, match=f"expected MD5 {'f' * 32}, got {right.md5}"):
        download_cifar10(tmp_path / "data", mirror=served.url)
    assert files_under(tmp_path / "data") == []


def test_offline_says_so_names_the_url_and_how_to_place_the_file(tmp_path):
    url = closed_port_url()
    with pytest.raises(DownloadError) as error:
        download_cifar10(tmp_path / "data", mirror=url)
    message = str(error.value)
    assert message.startswith(f"cannot download {url}cifar-10-python.tar.gz: no network connection (")
    assert f"place it at {tmp_path / 'data' / 'cifar-10-python.tar.gz'}" in message
    assert archives.CIFAR10_ARCHIVE.sha256 in message
    assert files_under(tmp_path / "data") == []


def test_a_missing_file_on_the_server(tmp_path, served):
    with pytest.raises(DownloadError, match="the server answered 404 File not found; download it on a machine"):
        download_mnist(tmp_path / "data", mirror=served.url + "nowhere/")
    assert files_under(tmp_path / "data") == []


def test_a_transfer_cut_off_midway_leaves_no_file(tmp_path, served):
    remote = RemoteFile("file.bin", sha256="0" * 64)
    with pytest.raises(DownloadError, match="broke off .*IncompleteRead.*990 more expected.*nothing was kept"):
        download_file(served.url + "broken/file.bin", tmp_path / "data", remote)
    assert files_under(tmp_path / "data") == []


def test_a_wrong_file_already_there_is_replaced(tmp_path, served):
    root = tmp_path / "data"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(b"an old, damaged copy")
    download_cifar10(root, mirror=served.url)
    assert served.requests == ["/cifar-10-python.tar.gz"]
    assert digests(root / "cifar-10-python.tar.gz")["sha256"] == archives.CIFAR10_ARCHIVE.sha256


def test_a_checked_archive_with_an_unsafe_member_is_still_refused(tmp_path, monkeypatch):
    server_folder = tmp_path / "server"
    server_folder.mkdir()
    evil = write_tar_gz(server_folder / "cifar-10-python.tar.gz", {"../escaped.txt": b"gotcha"})
    monkeypatch.setattr(archives, "CIFAR10_ARCHIVE", RemoteFile(evil.name, **digests(evil)))
    root = tmp_path / "deep" / "data"
    with FileServer(server_folder) as server, pytest.raises(ArchiveError, match="'../escaped.txt' is unsafe"):
        download_cifar10(root, mirror=server.url)
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert files_under(root) == ["cifar-10-python.tar.gz"]


def test_the_published_checksums_are_well_formed():
    files = [archives.CIFAR10_ARCHIVE, *archives.MNIST_FILES.values()]
    assert all(len(f.sha256) == 64 and int(f.sha256, 16) >= 0 for f in files)
    assert all(len(f.md5) == 32 and int(f.md5, 16) >= 0 for f in files)
    assert archives.CIFAR10_ARCHIVE.md5 == "c58f30108f718f92721af3b95e74349a"
    assert {f.name for f in archives.MNIST_FILES.values()} == {f"{s}.gz" for s in archives.MNIST_FILES}


def test_py2_batches_use_the_names_of_the_real_archive():
    # The builder really writes what Python 2 wrote: numpy.core and byte strings, no _codecs.
    blob = cifar_files(cifar_batches())["test_batch"]
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in blob and b"_codecs" not in blob


# ---------------------------------------------------------------- the chapter's code that needs the network

NETWORK_CODE = re.compile(
    r'!!! example "Needs the network: download and train[^"]*"\n\s*```python\n(.*?)\n\s*```', re.S
)


def test_the_datasets_chapters_download_code_runs_against_a_local_server(tmp_path, served, monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "docs" / "en" / "datasets.md").read_text(encoding="utf-8")
    code = textwrap.dedent(NETWORK_CODE.search(text).group(1))
    monkeypatch.setattr(archives, "CIFAR10_URL", served.url)
    monkeypatch.setattr(archives, "MNIST_URL", served.url + "mnist/")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "docs/en/datasets.md", "exec"), namespace)
    assert (len(namespace["cifar_train"]), len(namespace["cifar_test"])) == (20, 6)
    assert (len(namespace["mnist_train"]), len(namespace["mnist_test"])) == (12, 5)
    assert namespace["history"].epochs == 5 and (tmp_path / "data" / "cifar-10-batches-py").is_dir()

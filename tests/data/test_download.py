"""Downloads against a real HTTP server on 127.0.0.1: success, MD5 mismatch, zip slip, no network."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seqrec_bench.data import DatasetError, load_dataset
from seqrec_bench.data.download import file_md5
from seqrec_bench.data.movielens import ARCHIVE_MD5

U_DATA = "".join(
    f"{u}\t{i}\t{1 + (u + i) % 5}\t{880000000 + 60 * i}\n" for u in range(1, 9) for i in range(1, 9)
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Serve ``tmp_path / "www"`` over HTTP and point SEQBENCH_GROUPLENS_URL at it."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # a short poll interval: shutdown() waits for it (0.5 s by default, per test)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    monkeypatch.setenv("SEQBENCH_GROUPLENS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
    try:
        yield root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def publish(
    root: Path, members: dict[str, str], monkeypatch: pytest.MonkeyPatch, md5: str | None = None
) -> Path:
    path = root / "ml-100k.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    monkeypatch.setitem(ARCHIVE_MD5, "ml-100k.zip", md5 or file_md5(path))
    return path


def test_download_verify_extract_and_reuse(
    server: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    publish(server, {"ml-100k/u.data": U_DATA, "ml-100k/README": "readme"}, monkeypatch)
    ds = load_dataset("ml-100k", progress=False)
    assert ds.stats["users"] == 8 and ds.stats["interactions"] == 64
    assert (isolated_cache / "ml-100k.zip").is_file()
    assert (isolated_cache / "ml-100k" / "u.data").read_text() == U_DATA
    assert not [p for p in isolated_cache.iterdir() if p.name.startswith(".")]  # no temp leftovers

    # the raw files are now local: no server needed, and a fresh preparation gives the same data
    (server / "ml-100k.zip").unlink()
    again = load_dataset("ml-100k", cache=False, progress=False)
    assert again.checksum == ds.checksum and again.stats == ds.stats


def test_checksum_mismatch(
    server: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    publish(server, {"ml-100k/u.data": U_DATA}, monkeypatch, md5="f" * 32)
    with pytest.raises(DatasetError) as err:
        load_dataset("ml-100k", progress=False)
    assert "MD5" in str(err.value) and "f" * 32 in str(err.value)
    assert "\n" not in str(err.value)
    # nothing half-downloaded is left to be trusted next time
    assert not (isolated_cache / "ml-100k.zip").exists()
    assert not list(isolated_cache.glob("*.part"))


@pytest.mark.parametrize(
    "evil", ["../escaped.txt", "ml-100k/../../escaped.txt", "/tmp/seqbench-abs-escape.txt"]
)
def test_zip_slip_is_rejected(
    server: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path, evil: str
) -> None:
    publish(server, {"ml-100k/u.data": U_DATA, evil: "gotcha"}, monkeypatch)
    with pytest.raises(DatasetError, match="refusing to extract"):
        load_dataset("ml-100k", progress=False)
    assert not (isolated_cache.parent / "escaped.txt").exists()
    assert not (isolated_cache / "escaped.txt").exists()
    assert not (isolated_cache / "ml-100k").exists()


def test_http_error(server: Path) -> None:
    with pytest.raises(DatasetError, match=r"could not download ml-100k\.zip .*404"):
        load_dataset("ml-100k", progress=False)


def test_no_network_says_what_to_put_where(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SEQBENCH_GROUPLENS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(DatasetError) as err:
        load_dataset("ml-1m", progress=False)
    message = str(err.value)
    assert message.startswith("could not download ml-1m.zip")
    assert f"put ml-1m.zip or the extracted ml-1m/ folder in {isolated_cache}" in message
    assert "--data-dir" in message and "\n" not in message
    assert not isolated_cache.exists() or not list(isolated_cache.iterdir())

"""Downloading and unpacking archives: progress bar, MD5 check, atomic rename, safe extraction."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from seqrec_bench.data.cache import atomic_path
from seqrec_bench.data.dataset import DatasetError
from seqrec_bench.errors import SeqbenchError

__all__ = ["DownloadFailed", "download", "file_md5", "safe_extract"]

_CHUNK = 1 << 20


class DownloadFailed(SeqbenchError, OSError):
    """The server could not be reached or answered with an error (the caller adds the advice)."""


def file_md5(path: str | Path) -> str:
    """MD5 of a file's bytes (the checksum GroupLens publishes), read in 1 MB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _progress_bar(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    # a bar only for a human watching a terminal; logs and pipes stay clean
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and sys.stderr.isatty()),
    )


def download(
    url: str, dest: Path, *, md5: str | None = None, progress: bool = True, timeout: float = 30.0
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file, checking its MD5.

    Args:
        url: what to fetch.
        dest: final path; it appears only once the download is complete and verified.
        md5: expected MD5 hex digest, or ``None`` to skip the check.
        progress: show a rich progress bar (only when stderr is a terminal).
        timeout: seconds to wait for the server to answer a read.

    Returns:
        ``dest``.

    Raises:
        DownloadFailed: the server is unreachable or answered with an HTTP error.
        DatasetError: the downloaded bytes do not match ``md5``.
    """
    digest = hashlib.md5()
    try:
        with atomic_path(dest) as tmp:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http/https)
            except urllib.error.HTTPError as exc:
                raise DownloadFailed(f"HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                raise DownloadFailed(str(reason)) from exc
            with response, open(tmp, "wb") as fh, _progress_bar(progress) as bar:
                total = response.headers.get("Content-Length")
                task = bar.add_task(dest.name, total=int(total) if total else None)
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    digest.update(chunk)
                    bar.advance(task, len(chunk))
            if md5 is not None and digest.hexdigest() != md5:
                raise DatasetError(
                    f"downloaded {url} has MD5 {digest.hexdigest()}, expected {md5}: the download "
                    f"was damaged or the file changed upstream; try again, or put a verified "
                    f"{dest.name} in {dest.parent}"
                )
    except OSError as exc:
        if isinstance(exc, DownloadFailed):
            raise
        raise DownloadFailed(str(exc)) from exc
    return dest


def _unsafe_member(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` parts would write outside the target folder."""
    for path in (PurePosixPath(name), PureWindowsPath(name)):
        if path.is_absolute() or path.drive or path.root or ".." in path.parts:
            return True
    return False


def safe_extract(archive: Path, target: Path, folder: str) -> Path:
    """Extract ``archive`` so that its ``folder/`` ends up as ``target``.

    Every member is checked before anything is written: a member with an absolute path or a
    ``..`` escaping the extraction folder (a "zip slip") makes the whole archive rejected.
    Extraction happens in a temporary folder beside ``target`` that is then renamed into place,
    so ``target`` is either complete or absent. Archives without a top-level ``folder/`` are
    accepted too (their members become the contents of ``target``).

    Raises:
        DatasetError: unreadable archive or an unsafe member.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if _unsafe_member(info.filename):
                    raise DatasetError(
                        f"refusing to extract {archive}: member {info.filename!r} would be written "
                        f"outside {target.parent}; the archive is not the official one, delete it"
                    )
            target.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            try:
                zf.extractall(scratch)
                source = scratch / folder if (scratch / folder).is_dir() else scratch
                if target.exists():  # an incomplete earlier extraction
                    shutil.rmtree(target)
                try:
                    os.replace(source, target)
                except OSError:
                    if not target.is_dir():
                        raise
                    # another process extracted the same archive meanwhile: keep theirs
            finally:
                if scratch.exists():
                    shutil.rmtree(scratch)
    except zipfile.BadZipFile as exc:
        raise DatasetError(
            f"{archive} is not a valid zip archive ({exc}); delete it and try again"
        ) from exc
    return target

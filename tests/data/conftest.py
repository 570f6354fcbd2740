"""Every data test gets its own empty cache folder and the real GroupLens URL is never used."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$SEQBENCH_DATA`` points at a fresh folder; downloads go to a closed local port."""
    cache = tmp_path / "seqbench-cache"
    monkeypatch.setenv("SEQBENCH_DATA", str(cache))
    # if a test forgets to set up a server, it fails fast instead of reaching the internet
    monkeypatch.setenv("SEQBENCH_GROUPLENS_URL", "http://127.0.0.1:9/unreachable")
    return cache

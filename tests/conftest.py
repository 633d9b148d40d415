"""Shared fixtures: the real DAW sessions in ../shared/sessions, read in place (never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STEMSCOPE_SHARED", REPO.parent / "shared"))
SESSIONS = SHARED / "sessions"


@pytest.fixture(scope="session")
def sessions_dir() -> Path:
    if not SESSIONS.is_dir():
        pytest.skip(f"the shared session corpus is not at {SESSIONS}")
    return SESSIONS


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path_factory, monkeypatch):
    """No test writes into the user's real cache folder."""
    monkeypatch.setenv("STEMSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))

"""Per-user folders Stemscope writes to (never a session's or a library's own folder)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def user_cache_dir() -> Path:
    """The cache folder: $STEMSCOPE_CACHE_DIR if set, else the platform's user cache folder."""
    override = os.environ.get("STEMSCOPE_CACHE_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("stemscope", appauthor=False))

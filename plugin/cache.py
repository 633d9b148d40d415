"""The on-disk cache of analysis results, in the user's cache folder (never beside a session).

Keys come from audio content, not file names: a media file is identified by the sha256 of its
bytes. Hashing is remembered per (path, size, modification time) in a small index, so an
unchanged file is hashed once; a file that changes gets a new fingerprint and misses.

Entries are `.npz` files of named arrays plus JSON-able metadata, written atomically (a temporary
file renamed into place), so a crash or two processes writing the same key never leave a torn
entry. An unreadable entry is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

from .paths import user_cache_dir

_HASH_CHUNK = 1 << 20
_index_lock = threading.Lock()


def stable_hash(value) -> str:
    """sha256 of a JSON-able value in a canonical form (sorted keys, floats as repr)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class FingerprintIndex:
    """sha256 of media files, remembered per (resolved path, size, mtime_ns)."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or user_cache_dir()) / "fingerprints.json"
        self._memo: dict[str, str] | None = None
        self._dirty = False

    def _load(self) -> dict[str, str]:
        if self._memo is None:
            try:
                memo = json.loads(self.path.read_text(encoding="utf-8"))
                self._memo = memo if isinstance(memo, dict) else {}
            except (OSError, ValueError):
                self._memo = {}
        return self._memo

    def fingerprint(self, path: str | Path) -> str | None:
        """The file's content hash, or None when it cannot be read (missing, a folder...)."""
        try:
            real = os.path.realpath(path)
            st = os.stat(real)
        except (OSError, ValueError):
            return None
        stamp = f"{real}|{st.st_size}|{st.st_mtime_ns}"
        with _index_lock:
            known = self._load().get(stamp)
        if known:
            return known
        try:
            with open(real, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError:
            return None
        with _index_lock:
            self._load()[stamp] = digest
            self._dirty = True
        return digest

    def save(self) -> None:
        """Write the index if it changed (merged with what another process may have written)."""
        with _index_lock:
            if not self._dirty:
                return
            try:
                on_disk = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(on_disk, dict):
                    on_disk = {}
            except (OSError, ValueError):
                on_disk = {}
            on_disk.update(self._memo or {})
            try:
                _atomic_write(self.path, json.dumps(on_disk, separators=(",", ":")).encode("utf-8"))
            except OSError:
                return  # a read-only cache folder costs a rehash next time, nothing more
            self._memo, self._dirty = on_disk, False


class ResultCache:
    """Arrays and metadata stored under a key (a hex digest)."""

    def __init__(self, folder: Path | None = None):
        self.folder = (folder or user_cache_dir()) / "analysis"

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """(arrays, metadata) stored under `key`, or None on a miss or an unreadable entry."""
        try:
            with np.load(self._file(key), allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files if name != "__meta__"}
                meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None
        return arrays, meta

    def put(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> bool:
        """Store an entry; False when the cache folder cannot be written (the run goes on)."""
        buffer = io.BytesIO()
        np.savez(buffer, __meta__=np.array(json.dumps(meta)), **arrays)
        try:
            _atomic_write(self._file(key), buffer.getvalue())
        except OSError:
            return False
        return True


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

"""The API key store: a JSON file of SHA-256 hashes of keys, never the keys themselves.

The file (default <data_dir>/api_keys.json) is replaced atomically on every change, so a
server re-reading it (on a change of its mtime, at most every RELOAD_INTERVAL_S) never sees
half a file; it may be a mounted Kubernetes Secret written by `imagesearch keys`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from imagesearch.auth.scopes import Grant

log = logging.getLogger(__name__)

KEY_PREFIX = "isk_"
# How often a serving process looks at the file's mtime: a revoked key stops working
# within this many seconds.
RELOAD_INTERVAL_S = 2.0


class KeyStoreError(Exception):
    """A key store failure a person can act on (name taken, unknown name)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 32 random bytes (256 bits), URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    grants: tuple[Grant, ...]
    created: datetime
    expires: datetime | None = None
    last_used: datetime | None = None

    @property
    def key_id(self) -> str:
        """A short id for logs and quotas: the first 12 hex digits of the key's SHA-256 (48
        bits of a hash of 256 random bits: tells keys apart, says nothing of the key)."""
        return self.sha256[:12]

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def to_json(self) -> dict:
        return {
            "name": self.name, "sha256": self.sha256, "roles": [str(g) for g in self.grants],
            "created": self.created.isoformat(), "expires": self.expires.isoformat() if self.expires else None,
            "last_used": self.last_used.isoformat() if self.last_used else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> "ApiKey":
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None
        return cls(
            data["name"], data["sha256"], tuple(Grant.parse(g) for g in data["roles"]),
            datetime.fromisoformat(data["created"]), when(data.get("expires")), when(data.get("last_used")),
        )


class KeyFile:
    """Create, list and revoke keys in the file (the offline `imagesearch keys` commands)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[ApiKey]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [ApiKey.from_json(k) for k in data.get("keys", [])]

    def save(self, keys: list[ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".api_keys.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"keys": [k.to_json() for k in keys]}, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def create(self, name: str, grants: tuple[Grant, ...], expires_in_days: float | None = None) -> str:
        """Adds a key; returns it (the only time it exists in clear)."""
        keys = self.load()
        if any(k.name == name for k in keys):
            raise KeyStoreError(f"a key named {name!r} exists; revoke it first or choose another name")
        key, now = new_key(), _now()
        expires = now + timedelta(days=expires_in_days) if expires_in_days is not None else None
        self.save([*keys, ApiKey(name, hash_key(key), grants, now, expires)])
        return key

    def revoke(self, name: str) -> None:
        keys = self.load()
        kept = [k for k in keys if k.name != name]
        if len(kept) == len(keys):
            raise KeyStoreError(f"no key named {name!r}")
        self.save(kept)


class KeyStore:
    """The serving side: looks keys up by hash, re-reading the file when its mtime changes."""

    def __init__(self, path: Path) -> None:
        self.file = KeyFile(path)
        self._keys: list[ApiKey] = []
        self._mtime: float | None = None
        self._checked = 0.0
        self.last_used: dict[str, datetime] = {}  # kept in memory: the file may be a read-only Secret
        self.reload(force=True)

    def reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL_S:
            return
        self._checked = now
        try:
            mtime = self.file.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if force or mtime != self._mtime:
            try:
                self._keys = self.file.load() if mtime is not None else []
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if force:
                    raise
                # A broken edit must not open the server nor lock everyone out: the keys
                # read last stay in force until the file is readable again.
                log.error("cannot read API keys from %s (%s); keeping the %d keys read before",
                          self.file.path, exc, len(self._keys))
            self._mtime = mtime

    @property
    def enforced(self) -> bool:
        """Keys are enforced whenever the file holds at least one key."""
        self.reload()
        return bool(self._keys)

    def lookup(self, key: str) -> ApiKey | None:
        """The live key whose hash matches, else None (unknown, revoked or expired)."""
        self.reload()
        digest = hash_key(key)
        found = None
        for candidate in self._keys:  # every hash compared, in constant time each
            if hmac.compare_digest(candidate.sha256, digest):
                found = candidate
        if found is None or found.expired(_now()):
            return None
        self.last_used[found.name] = _now()
        return found

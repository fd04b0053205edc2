"""The embedded store's snapshot file: one uncompressed tar (vectors and JPEGs barely
compress) of plain members, verified member by member against a manifest.

    collections/<c>/record.json          the collection record (model set, moderation, ...)
    collections/<c>/points-NNNNNN.jsonl  one {"uuid", "payload"} line per point of page N
    collections/<c>/points-NNNNNN.vK.npy float32 rows, same order, of the K-th vector space
    collections/<c>/originals/<uuid>     original image bytes (keep_originals collections)
    manifest.json                        format versions, collections, counts, member digests
    manifest.sha256                      SHA-256 of manifest.json

The manifest comes last because its counts and digests are known only at the end. Nothing is
unpickled (np.load with allow_pickle=False), so a snapshot from elsewhere cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from imagesearch.store.base import StoreError

SNAPSHOT_FORMAT = 1
MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.sha256"


class SnapshotError(StoreError):
    """Base class of snapshot errors."""


class SnapshotCorrupt(SnapshotError):
    """The file is truncated, altered or not a snapshot."""


@dataclass
class CollectionManifest:
    """One collection in a snapshot."""

    name: str
    record: dict[str, Any]  # collection.json's content, as written
    item_count: int = 0
    pages: int = 0
    originals: int = 0

    @property
    def model_set_name(self) -> str:
        return self.record["model_set"]["name"]


@dataclass
class Manifest:
    """What a snapshot holds; `members` maps member name -> SHA-256 of its bytes."""

    snapshot_format: int
    data_format_version: int
    created_at: float
    collections: list[CollectionManifest]
    members: dict[str, str] = field(default_factory=dict)
    # SHA-256 of the file's first content_bytes (every byte before the manifest: headers,
    # data and padding), so that no altered byte goes unnoticed.
    content_bytes: int = 0
    content_sha256: str = ""

    @property
    def checksum(self) -> str:
        """One digest of all content: SHA-256 over the content digest and the member digests."""
        h = hashlib.sha256(f"{self.content_bytes}:{self.content_sha256}\n".encode())
        for name in sorted(self.members):
            h.update(f"{name}\0{self.members[name]}\n".encode())
        return h.hexdigest()

    @property
    def item_count(self) -> int:
        return sum(c.item_count for c in self.collections)

    def to_json(self) -> bytes:
        body = asdict(self)
        body["checksum"] = self.checksum
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        body = json.loads(raw)
        manifest = cls(
            snapshot_format=int(body["snapshot_format"]),
            data_format_version=int(body["data_format_version"]),
            created_at=float(body["created_at"]),
            collections=[CollectionManifest(**c) for c in body["collections"]],
            members=dict(body["members"]),
            content_bytes=int(body["content_bytes"]),
            content_sha256=str(body["content_sha256"]),
        )
        if manifest.checksum != body["checksum"]:
            raise SnapshotCorrupt("the manifest's checksum does not match its member digests")
        return manifest


@dataclass(frozen=True)
class Page:
    """Points of one collection as read from or written to a snapshot."""

    uuids: list[str]
    payloads: list[dict[str, Any]]
    vectors: list[np.ndarray]  # one (n, dim) float32 matrix per space, in model-set order


class SnapshotWriter:
    """Writes a snapshot file (blocking calls: run them in a worker thread)."""

    def __init__(self, path: Path, data_format_version: int) -> None:
        self._tmp = path.with_name(path.name + ".partial")
        self._path = path
        self._tar = tarfile.open(self._tmp, "w", format=tarfile.PAX_FORMAT)
        self.manifest = Manifest(SNAPSHOT_FORMAT, data_format_version, time.time(), [])

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = int(time.time())
        self._tar.addfile(info, io.BytesIO(data))
        self.manifest.members[name] = hashlib.sha256(data).hexdigest()

    def begin_collection(self, name: str, record: dict[str, Any]) -> CollectionManifest:
        entry = CollectionManifest(name=name, record=record)
        self.manifest.collections.append(entry)
        self._add(f"collections/{name}/record.json", json.dumps(record, sort_keys=True).encode())
        return entry

    def add_page(self, entry: CollectionManifest, page: Page) -> None:
        prefix = f"collections/{entry.name}/points-{entry.pages:06d}"
        lines = (json.dumps({"uuid": u, "payload": p}, sort_keys=True) for u, p in zip(page.uuids, page.payloads))
        self._add(f"{prefix}.jsonl", ("\n".join(lines) + "\n").encode())
        for k, matrix in enumerate(page.vectors):
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(matrix, dtype=np.float32), allow_pickle=False)
            self._add(f"{prefix}.v{k}.npy", buffer.getvalue())
        entry.pages += 1
        entry.item_count += len(page.uuids)

    def add_original(self, entry: CollectionManifest, uuid: str, data: bytes) -> None:
        self._add(f"collections/{entry.name}/originals/{uuid}", data)
        entry.originals += 1

    def finish(self) -> Manifest:
        """Write the manifest, close, and move the file to its name (atomically)."""
        self._tar.fileobj.flush()
        self.manifest.content_bytes = self._tar.offset
        self.manifest.content_sha256 = _prefix_sha256(self._tmp, self._tar.offset)
        raw = self.manifest.to_json()
        self._add(MANIFEST, raw)
        del self.manifest.members[MANIFEST]
        self._add(MANIFEST_DIGEST, hashlib.sha256(raw).hexdigest().encode())
        del self.manifest.members[MANIFEST_DIGEST]
        self._tar.close()
        self._tmp.replace(self._path)
        return self.manifest

    def abort(self) -> None:
        self._tar.close()
        self._tmp.unlink(missing_ok=True)


def _prefix_sha256(path: Path, length: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while length > 0:
            chunk = f.read(min(length, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            length -= len(chunk)
    return h.hexdigest()


def _corrupt(path: Path, error: Exception) -> SnapshotCorrupt:
    return SnapshotCorrupt(f"{path} is not a complete imagesearch snapshot: {type(error).__name__}: {error}")


def read_manifest(path: Path) -> Manifest:
    """The manifest, after checking its own digest (not the members: see verify)."""
    try:
        with tarfile.open(path, "r:") as tar:
            raw = tar.extractfile(MANIFEST).read()
            last = tar.getmember(MANIFEST_DIGEST)
            digest = tar.extractfile(last).read().decode().strip()
        # A complete file ends with the two zero blocks of the end of the archive, padded to
        # a whole record: a copy cut short there still reads, but is incomplete.
        size = Path(path).stat().st_size
        end = last.offset_data + 512 * ((last.size + 511) // 512) + 2 * 512
        if size < end or size % tarfile.RECORDSIZE:
            raise EOFError(f"the file ends at byte {size}, a complete snapshot at {end} or after, in whole records")
    except (tarfile.TarError, KeyError, OSError, AttributeError, UnicodeDecodeError, EOFError) as error:
        raise _corrupt(path, error) from error
    if hashlib.sha256(raw).hexdigest() != digest:
        raise SnapshotCorrupt(f"{path}: the manifest does not match its digest")
    try:
        manifest = Manifest.from_json(raw)
    except (ValueError, KeyError, TypeError) as error:
        raise _corrupt(path, error) from error
    if manifest.snapshot_format > SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"{path} has snapshot format {manifest.snapshot_format}; this imagesearch reads up to {SNAPSHOT_FORMAT}"
        )
    return manifest


def verify(path: Path) -> Manifest:
    """Read the whole file and check every member against the manifest; SnapshotCorrupt
    on any difference (truncation, altered byte, missing or extra member)."""
    manifest = read_manifest(path)
    if _prefix_sha256(path, manifest.content_bytes) != manifest.content_sha256:
        raise SnapshotCorrupt(f"{path}: its content does not match the manifest's checksum")
    seen: set[str] = set()
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.name in (MANIFEST, MANIFEST_DIGEST):
                    continue
                data = tar.extractfile(member).read()
                if manifest.members.get(member.name) != hashlib.sha256(data).hexdigest():
                    raise SnapshotCorrupt(f"{path}: member {member.name} does not match the manifest")
                seen.add(member.name)
    except (tarfile.TarError, OSError, AttributeError, EOFError) as error:
        raise _corrupt(path, error) from error
    missing = set(manifest.members) - seen
    if missing:
        raise SnapshotCorrupt(f"{path}: {len(missing)} member(s) missing, e.g. {sorted(missing)[0]}")
    return manifest


def read_collection(path: Path, entry: CollectionManifest) -> Iterator[tuple[str, Any]]:
    """Yield ("page", Page) and ("original", (uuid, bytes)) of one collection, in file order.
    Call verify() first: this only parses."""
    prefix = f"collections/{entry.name}/"
    spaces = len(entry.record["model_set"]["spaces"])
    with tarfile.open(path, "r:") as tar:
        pending: dict[str, Any] = {}
        for member in tar:
            if not member.name.startswith(prefix):
                continue
            rest = member.name[len(prefix):]
            data = tar.extractfile(member).read()
            if rest.startswith("originals/"):
                yield "original", (rest.split("/", 1)[1], data)
            elif rest.endswith(".jsonl"):
                rows = [json.loads(line) for line in data.decode().splitlines() if line]
                pending = {"uuids": [r["uuid"] for r in rows], "payloads": [r["payload"] for r in rows], "vectors": []}
            elif rest.endswith(".npy"):
                pending["vectors"].append(np.load(io.BytesIO(data), allow_pickle=False))
                if len(pending["vectors"]) == spaces:
                    yield "page", Page(**pending)

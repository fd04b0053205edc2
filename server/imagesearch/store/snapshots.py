"""Where the embedded store keeps its snapshot files, and the errors of snapshot calls.

    <data_dir>/snapshots/<collection>/<snapshot>.snapshot   one collection
    <data_dir>/snapshots/-/<snapshot>.snapshot              every collection (ALL_COLLECTIONS)

A snapshot's name is `<collection>-<UTC time>-<4 hex>` (sortable, unique without a lock).
To move a snapshot to another server, copy the file into the same place under that
server's data dir (or `import_file`), then restore it there.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path

from imagesearch.store.base import ALL_COLLECTIONS, ModelSetRecord, SnapshotInfo, check_collection_name
from imagesearch.store.snapshot_file import Manifest, SnapshotCorrupt, SnapshotError, read_manifest, verify

SNAPSHOTS_DIR = "snapshots"
SUFFIX = ".snapshot"
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

UPLOADS_DIR = ".uploads"

__all__ = [
    "ModelSetNotServed", "SnapshotCatalog", "SnapshotCorrupt", "SnapshotError", "SnapshotExists", "SnapshotNotFound",
]


class SnapshotNotFound(SnapshotError):
    """No snapshot of that name."""


class SnapshotExists(SnapshotError):
    """An upload under a snapshot name that is taken."""


class ModelSetNotServed(SnapshotError):
    """The snapshot's collection was built with a model set (or model versions) this server
    does not serve: its vectors could not be searched or added to."""

    def __init__(self, collection: str, wanted: ModelSetRecord, served: list[ModelSetRecord]) -> None:
        self.collection, self.wanted = collection, wanted
        versions = ", ".join(f"{s.name}={s.model.name} v{s.model.version}" for s in wanted.spaces)
        offered = ", ".join(sorted({m.name for m in served})) or "none"
        super().__init__(
            f"snapshot collection {collection!r} needs model set {wanted.name!r} ({versions}); "
            f"this server serves: {offered} (other versions count as other sets)"
        )


def check_served(collection: str, wanted: ModelSetRecord, served: list[ModelSetRecord] | None) -> None:
    """ModelSetNotServed unless `wanted` is served exactly (set, spaces, model versions).
    served=None skips the check (offline tools that cannot know what a server serves)."""
    if served is not None and wanted not in served:
        raise ModelSetNotServed(collection, wanted, served)


class SnapshotCatalog:
    """The snapshot files of one data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / SNAPSHOTS_DIR

    def new_path(self, collection: str | None) -> tuple[str, Path]:
        """A fresh snapshot name and its file path (folder created)."""
        owner = collection or ALL_COLLECTIONS
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{'all' if owner == ALL_COLLECTIONS else owner}-{stamp}-{secrets.token_hex(2)}"
        folder = self.root / owner
        folder.mkdir(parents=True, exist_ok=True)
        return name, folder / f"{name}{SUFFIX}"

    def path(self, collection: str, snapshot: str) -> Path:
        """The file of an existing snapshot; SnapshotNotFound if missing."""
        if collection != ALL_COLLECTIONS:
            check_collection_name(collection)
        if not SNAPSHOT_NAME.fullmatch(snapshot or ""):
            raise SnapshotNotFound(f"{snapshot!r} is not a snapshot name")
        path = self.root / collection / f"{snapshot}{SUFFIX}"
        if not path.is_file():
            raise SnapshotNotFound(f"snapshot {collection}/{snapshot} does not exist")
        return path

    def list(self, collection: str | None = None) -> list[SnapshotInfo]:
        """Snapshots of `collection` (None: all of them), oldest first. A file whose
        manifest cannot be read is listed with item_count None and checksum "corrupt"."""
        folders = [self.root / collection] if collection else sorted(self.root.glob("*"))
        infos = [self.info(f.name, p.name[: -len(SUFFIX)]) for f in folders if f.is_dir() for p in f.glob(f"*{SUFFIX}")]
        return sorted(infos, key=lambda i: (i.created_at, i.name))

    def info(self, collection: str, snapshot: str) -> SnapshotInfo:
        path = self.path(collection, snapshot)
        try:
            manifest: Manifest | None = read_manifest(path)
        except SnapshotError:
            manifest = None
        return SnapshotInfo(
            name=snapshot,
            collection=collection,
            created_at=manifest.created_at if manifest else path.stat().st_mtime,
            size_bytes=path.stat().st_size,
            checksum=manifest.checksum if manifest else "corrupt",
            location=str(path),
            item_count=manifest.item_count if manifest else None,
            model_sets=tuple(sorted({c.model_set_name for c in manifest.collections})) if manifest else (),
        )

    def delete(self, collection: str, snapshot: str) -> None:
        self.path(collection, snapshot).unlink()

    def import_file(self, source: Path) -> SnapshotInfo:
        """Copy a snapshot file made elsewhere into this catalog (after checking its manifest)."""
        manifest = read_manifest(source)
        owner = manifest.collections[0].name if len(manifest.collections) == 1 else ALL_COLLECTIONS
        name = Path(source).name.removesuffix(SUFFIX)
        folder = self.root / owner
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / f"{name}{SUFFIX}")
        return self.info(owner, name)

    def upload_path(self) -> Path:
        """A fresh file for an upload in progress (under .uploads/, never listed)."""
        folder = self.root / UPLOADS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{secrets.token_hex(8)}.partial"

    def adopt_upload(self, upload: Path, snapshot: str = "") -> SnapshotInfo:
        """Check a whole uploaded file (verify: every member against the manifest) and move it
        into its collection's folder under `snapshot` (empty: a fresh upload name). The upload
        is deleted on any failure: SnapshotCorrupt, SnapshotExists, SnapshotNotFound (bad name)."""
        try:
            manifest = verify(upload)
            owner = manifest.collections[0].name if len(manifest.collections) == 1 else ALL_COLLECTIONS
            if snapshot and not SNAPSHOT_NAME.fullmatch(snapshot):
                raise SnapshotNotFound(f"{snapshot!r} is not a snapshot name: 1-128 letters, digits, '_', '.', '-'")
            if not snapshot:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                snapshot = f"{'all' if owner == ALL_COLLECTIONS else owner}-upload-{stamp}-{secrets.token_hex(2)}"
            folder = self.root / owner
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{snapshot}{SUFFIX}"
            if final.exists():
                raise SnapshotExists(f"snapshot {owner}/{snapshot} exists: delete it or upload under another ID")
            upload.replace(final)
        finally:
            upload.unlink(missing_ok=True)
        return self.info(owner, snapshot)

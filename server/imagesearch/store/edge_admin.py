"""The embedded store's administrative calls: aliases, snapshots and restore, originals.

A mixin of EdgeStore (kept apart so that edge.py stays about serving). Snapshots are
logical: pages of points (payload + vectors) read with the engine's scroll while the
collection keeps serving; nothing blocks writes at all, since a scroll is ordered by point
id and every point present when the snapshot starts and not written meanwhile is in it.
Points written during the snapshot may or may not be. A restore rebuilds the collection in
collections.staging/ and moves it into place with one rename (a crash leaves nothing),
after checking the whole file, the model set and the name: a refused restore changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from qdrant_edge import CountRequest, EdgeShard, ScrollRequest

from imagesearch.store.base import (
    ALL_COLLECTIONS,
    Alias,
    AliasExists,
    CollectionExists,
    CollectionInfo,
    ModelSetRecord,
    OriginalsNotKept,
    Progress,
    SnapshotInfo,
    check_collection_name,
)
from imagesearch.store.collection import LiveCollection, point_uuid
from imagesearch.store.format import COLLECTION_FORMAT_VERSION, DATA_FORMAT_VERSION, collection_version
from imagesearch.store.journal import StoredPointData, Upsert
from imagesearch.store.layout import CollectionPaths, fsync_dir
from imagesearch.store.migrations import MIGRATIONS, STAGING_DIR
from imagesearch.store.originals import ORIGINALS_DIR, OriginalsStore, OriginalsUsage
from imagesearch.store.records import model_set_from_dict
from imagesearch.store.shard_config import edge_config
from imagesearch.store.shard_files import create_shard
from imagesearch.store.snapshot_file import CollectionManifest, Page, SnapshotCorrupt, SnapshotWriter, read_collection, verify
from imagesearch.store.snapshots import SnapshotCatalog, check_served

if TYPE_CHECKING:
    from imagesearch.store.edge import EdgeStore

# Points per snapshot page: ~7 KB each for the offline set, so ~2 MB per scroll call.
SNAPSHOT_PAGE = 256


def _page(records: list[Any], spaces: tuple[str, ...]) -> Page:
    vectors = []
    for space in spaces:
        rows = [r.vector if not isinstance(r.vector, dict) else r.vector[space] for r in records]
        vectors.append(np.asarray(rows, dtype=np.float32).reshape(len(records), -1))
    return Page([str(r.id) for r in records], [dict(r.payload) for r in records], vectors)


def _current_record(record: dict[str, Any]) -> dict[str, Any]:
    """A collection record from a snapshot of an older format, migrated like a data dir."""
    for migration in MIGRATIONS:
        if collection_version(record) == migration.source:
            record = migration.collection_step(record)
    return record


class EdgeAdmin:
    """Aliases, snapshots and originals of EdgeStore (uses its catalog and collections)."""

    # ---- aliases -------------------------------------------------------------------------
    async def resolve(self: "EdgeStore", name: str) -> str:
        """The collection `name` designates (itself unless it is an alias)."""
        return self._aliases.resolve(name)

    async def create_alias(self: "EdgeStore", alias: str, collection: str) -> Alias:
        """Create `alias` -> `collection`; AliasExists, CollectionNotFound."""
        async with self._catalog_lock:
            target = self._collection(collection).name
            return self._aliases.create(alias, target, set(self._collections))

    async def switch_alias(self: "EdgeStore", alias: str, collection: str) -> Alias:
        """Point `alias` at `collection` in one atomic file replace; requests resolve it per call."""
        async with self._catalog_lock:
            target = self._collection(collection).name
            return self._aliases.switch(alias, target)

    async def delete_alias(self: "EdgeStore", alias: str) -> None:
        """Remove an alias; AliasNotFound if missing."""
        async with self._catalog_lock:
            self._aliases.delete(alias)

    async def list_aliases(self: "EdgeStore", collection: str | None = None) -> list[Alias]:
        """Every alias, or those of `collection`."""
        return self._aliases.list(collection)

    # ---- originals -----------------------------------------------------------------------
    def _originals_of(self: "EdgeStore", collection: LiveCollection) -> OriginalsStore | None:
        return self._originals.get(collection.name)

    async def keeps_originals(self: "EdgeStore", name: str) -> bool:
        """Whether the collection was created with keep_originals."""
        return self._collection(name).name in self._originals

    async def get_original(self: "EdgeStore", name: str, point_id: str) -> bytes | None:
        """The original bytes of one item (None if it has none); OriginalsNotKept."""
        collection = self._collection(name)
        originals = self._originals_of(collection)
        if originals is None:
            raise OriginalsNotKept(f"collection {collection.name!r} does not keep originals")
        return await asyncio.to_thread(originals.get, point_uuid(point_id))

    async def originals_usage(self: "EdgeStore", name: str) -> OriginalsUsage:
        """How many originals and bytes the collection keeps (walks the folder)."""
        collection = self._collection(name)
        originals = self._originals_of(collection)
        return OriginalsUsage(0, 0) if originals is None else await asyncio.to_thread(originals.usage)

    # ---- snapshots -----------------------------------------------------------------------
    @property
    def snapshots(self: "EdgeStore") -> SnapshotCatalog:
        return SnapshotCatalog(self._data_dir)

    async def create_snapshot(self: "EdgeStore", collection: str | None, progress: Progress | None = None) -> SnapshotInfo:
        """Snapshot one collection (None: all of them) into one file, while serving."""
        targets = [self._collection(collection)] if collection else [self._collections[n] for n in sorted(self._collections)]
        owner = targets[0].name if collection else None  # an alias is resolved to its collection
        name, path = self.snapshots.new_path(owner)
        writer = SnapshotWriter(path, DATA_FORMAT_VERSION)
        try:
            total = sum([await c.run(EdgeShard.count, CountRequest(exact=True)) for c in targets])
            done = 0
            for live in targets:
                done = await self._snapshot_one(writer, live, done, total, progress)
            await asyncio.to_thread(writer.finish)
        except BaseException:
            await asyncio.to_thread(writer.abort)
            raise
        return self.snapshots.info(owner or ALL_COLLECTIONS, name)

    async def _snapshot_one(
        self: "EdgeStore", writer: SnapshotWriter, live: LiveCollection, done: int, total: int, progress: Progress | None
    ) -> int:
        record = json.loads(await asyncio.to_thread(live.paths.sidecar.read_text, "utf-8"))
        entry = await asyncio.to_thread(writer.begin_collection, live.name, record)
        originals = self._originals_of(live)
        offset = None
        while True:
            request = ScrollRequest(offset=offset, limit=SNAPSHOT_PAGE, with_payload=True, with_vector=True)
            records, offset = await live.run(EdgeShard.scroll, request)
            if records:
                page = _page(records, live.model_set.space_names)
                await asyncio.to_thread(writer.add_page, entry, page)
                if originals is not None:
                    await asyncio.to_thread(self._add_originals, writer, entry, originals, page.uuids)
                done += len(records)
                if progress:
                    progress(done, max(total, done))
            if offset is None:
                return done

    @staticmethod
    def _add_originals(writer: SnapshotWriter, entry: CollectionManifest, originals: OriginalsStore, uuids: list[str]) -> None:
        for uuid in uuids:
            data = originals.get(uuid)
            if data is not None:
                writer.add_original(entry, uuid, data)

    async def list_snapshots(self: "EdgeStore", collection: str | None = None) -> list[SnapshotInfo]:
        """Snapshot files in the data dir, oldest first."""
        return await asyncio.to_thread(self.snapshots.list, collection)

    async def delete_snapshot(self: "EdgeStore", collection: str, snapshot: str) -> None:
        """Delete one snapshot file; SnapshotNotFound."""
        await asyncio.to_thread(self.snapshots.delete, collection, snapshot)

    async def restore_snapshot(
        self: "EdgeStore",
        collection: str,
        snapshot: str,
        served: Sequence[ModelSetRecord] | None,
        target: str | None = None,
        progress: Progress | None = None,
    ) -> list[CollectionInfo]:
        """Create the snapshot's collection(s); see VectorStore.restore_snapshot."""
        return await self.restore_file(self.snapshots.path(collection, snapshot), served, target, progress)

    async def restore_file(
        self: "EdgeStore", path: Path, served: Sequence[ModelSetRecord] | None, target: str | None = None,
        progress: Progress | None = None,
    ) -> list[CollectionInfo]:
        """Restore from a snapshot file anywhere on disk."""
        manifest = await asyncio.to_thread(verify, Path(path))
        if target is not None and len(manifest.collections) != 1:
            raise ValueError("a new name applies to a one-collection snapshot only")
        plan = [(target or entry.name, entry) for entry in manifest.collections]
        for name, entry in plan:
            check_collection_name(name)
            check_served(entry.name, model_set_from_dict(entry.record), None if served is None else list(served))
            if name in self._collections or self._aliases.is_alias(name):
                raise CollectionExists(f"collection {name!r} already exists: delete it or restore under another name")
        infos, done = [], 0
        for name, entry in plan:
            try:
                staged = await asyncio.to_thread(
                    self._stage, Path(path), entry, name,
                    (lambda n, base=done: progress(base + n, manifest.item_count)) if progress else None,
                )
                if staged != entry.item_count:
                    raise SnapshotCorrupt(f"{path}: {entry.name} holds {staged} points, its manifest says {entry.item_count}")
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, self._data_dir / STAGING_DIR / name, True)
                raise
            infos.append(await self._adopt(name))
            done += entry.item_count
        return infos

    def _stage(
        self: "EdgeStore", path: Path, entry: CollectionManifest, name: str, advanced: Callable[[int], None] | None
    ) -> int:
        """Build the collection under collections.staging/<name> (worker thread; `advanced`
        gets the points written so far); returns its point count."""
        record = _current_record(dict(entry.record))
        model_set = model_set_from_dict(record)
        paths = CollectionPaths(self._data_dir / STAGING_DIR / name)
        if paths.root.exists():
            shutil.rmtree(paths.root)
        paths.root.mkdir(parents=True)
        originals = OriginalsStore(paths.root / ORIGINALS_DIR)
        shard = create_shard(paths.shard, edge_config(model_set, self._index))
        written = 0
        try:
            for kind, item in read_collection(path, entry):
                if kind == "original":
                    originals.put(*item)
                    continue
                points = tuple(
                    StoredPointData(uuid, {s: item.vectors[k][i].tolist() for k, s in enumerate(model_set.space_names)},
                                    payload)
                    for i, (uuid, payload) in enumerate(zip(item.uuids, item.payloads))
                )
                shard.update(Upsert(points).operation())
                written += len(points)
                if advanced:
                    advanced(written)
            shard.flush()
            count = shard.count(CountRequest(exact=True))
        finally:
            shard.close()
        record["format_version"] = COLLECTION_FORMAT_VERSION
        body = json.dumps(record, indent=2)
        paths.sidecar.write_text(body, encoding="utf-8")
        with open(paths.sidecar, "rb+") as f:
            os.fsync(f.fileno())
        fsync_dir(paths.root)
        return count

    async def _adopt(self: "EdgeStore", name: str) -> CollectionInfo:
        """Move a staged collection into collections/ (one rename) and open it."""
        async with self._catalog_lock:
            if name in self._collections or self._aliases.is_alias(name):
                raise AliasExists(f"{name!r} was taken while restoring")
            source, paths = self._data_dir / STAGING_DIR / name, CollectionPaths(self._root / name)
            await asyncio.to_thread(os.replace, source, paths.root)
            await asyncio.to_thread(fsync_dir, self._root)
            await asyncio.to_thread(self._open_existing, paths)
        collection = self._collections[name]
        await self._maybe_start_build(collection)
        return await collection.info()

"""VectorStore on qdrant-edge-py: Qdrant's shard engine embedded in this process.

One shard per collection under `<data_dir>/collections/<name>/` (see layout.py). Writes
are durable against a process crash when they return: qdrant-edge appends every update
to its write-ahead log before applying it, and acknowledged batches were seen to survive
`kill -9`. Segments are flushed by index builds and on close, not per write (a flush costs
~10 ms of GIL-holding time per call).

HNSW indexes are built in a child process on a copy of the shard (indexer.py), started
automatically once `IndexSettings.threshold` points are outside the index; after a failed
build, automatic ones pause with an exponential backoff (build_retry.py).

The data directory is locked (datadir_lock.py) before start-up recovery looks at it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from qdrant_edge import EdgeShard

from imagesearch.store.base import (
    CollectionExists,
    CollectionInfo,
    CollectionNotFound,
    ModelSetRecord,
    ModerationPolicy,
    OcrPolicy,
    ScorePin,
    PointToStore,
    ScoredHit,
    StoredPoint,
    check_collection_name,
)
from imagesearch.store.claims import Claim, ClaimState, MemoryClaims
from imagesearch.store.aliases import AliasTable
from imagesearch.store.build_retry import BuildBackoff
from imagesearch.store.collection import LiveCollection
from imagesearch.store.datadir_lock import DataDirLock
from imagesearch.store.edge_admin import EdgeAdmin
from imagesearch.store.migrations import prepare_data_dir
from imagesearch.store.originals import ORIGINALS_DIR, OriginalsStore
from imagesearch.scoring.registry import pin_for_new
from imagesearch.store.points import check_model_set, point_uuid
from imagesearch.store.filters import Filter
from imagesearch.store.indexer import BuildReport, build_index
from imagesearch.store.layout import (
    CollectionPaths,
    Sidecar,
    fsync_dir,
    open_live_shard,
    read_sidecar,
    recover,
    write_sidecar,
)
from imagesearch.store.shard_config import IndexSettings, edge_config
from imagesearch.store.shard_files import create_shard

log = logging.getLogger(__name__)


class EdgeStore(EdgeAdmin):
    """The embedded store. Construct it before serving: it locks the data dir
    (datadir_lock.DataDirLocked when another process has it open), migrates its format
    forward (migrations.py; FormatTooNew for a newer one) and opens every collection on disk.
    Aliases, snapshots and originals: edge_admin.py."""

    def __init__(self, data_dir: Path, index: IndexSettings = IndexSettings()) -> None:
        # Before anything looks at the directory: migration and recovery rewrite and delete.
        self._lock = DataDirLock.acquire(Path(data_dir))
        self._data_dir = Path(data_dir)
        try:
            prepare_data_dir(self._data_dir)
        except BaseException:
            self._lock.release()
            raise
        self._root = self._data_dir / "collections"
        self._index = index
        self._aliases = AliasTable(self._data_dir)
        self._originals: dict[str, OriginalsStore] = {}  # collections that keep originals
        self._collections: dict[str, LiveCollection] = {}
        self._builds: dict[str, asyncio.Task[BuildReport]] = {}
        self._backoff = BuildBackoff(index.retry_base_s, index.retry_max_s)
        # Two cores: one optimize() child at a time, whatever the number of collections.
        self._build_slot = asyncio.Semaphore(1)
        self._catalog_lock = asyncio.Lock()
        self._claims = MemoryClaims()
        self._closed = False
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            for directory in sorted(self._root.iterdir()):
                if directory.is_dir():
                    self._open_existing(CollectionPaths(directory))
        except BaseException:
            for collection in self._collections.values():
                collection.shard.close()
            self._lock.release()
            raise

    def _open_existing(self, paths: CollectionPaths) -> None:
        if not paths.sidecar.exists():
            # collection.json is written last on create and removed first on delete.
            log.warning("removing incomplete collection directory %s", paths.root)
            shutil.rmtree(paths.root)
            return
        recover(paths)
        sidecar = read_sidecar(paths)
        shard, fell_back = open_live_shard(paths)
        if fell_back:
            log.warning("collection %s: the index swapped in before a crash did not load; serving the previous shard", paths.name)
        if sidecar.keep_originals:
            self._originals[paths.name] = OriginalsStore(paths.root / ORIGINALS_DIR)
        self._collections[paths.name] = LiveCollection(
            paths=paths,
            model_set=sidecar.model_set,
            created_at=sidecar.created_at,
            moderation=sidecar.moderation,
            ocr=sidecar.ocr,
            description=sidecar.description,
            score_pin=sidecar.score_pin,
            settings=self._index,
            shard=shard,
        )

    def _collection(self, name: str) -> LiveCollection:
        if self._closed:
            raise RuntimeError("the store is closed")
        check_collection_name(name)
        try:
            return self._collections[self._aliases.resolve(name)]
        except KeyError:
            raise CollectionNotFound(name) from None

    async def create_collection(
        self,
        name: str,
        model_set: ModelSetRecord,
        moderation: ModerationPolicy = ModerationPolicy(),
        description: str = "",
        keep_originals: bool = False,
        ocr: OcrPolicy = OcrPolicy(),
        score_pin: ScorePin | None = None,
    ) -> CollectionInfo:
        """Create an empty collection with its moderation policy; CollectionExists if the name
        is taken (by a collection or an alias). keep_originals: store each item's image bytes
        (originals.py) so that reprocess.py can re-run the models later. ocr: whether inserts
        read the text in the images (docs/ocr.md). score_pin: None pins the calibration
        version current for the model set (scoring/registry.py)."""
        check_collection_name(name)
        check_model_set(model_set)
        score_pin = pin_for_new(model_set.name) if score_pin is None else score_pin
        async with self._catalog_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if name in self._collections or self._aliases.is_alias(name):
                raise CollectionExists(name)
            paths = CollectionPaths(self._root / name)
            sidecar = Sidecar(
                model_set=model_set, created_at=time.time(), moderation=moderation, description=description,
                keep_originals=keep_originals, ocr=ocr, score_pin=score_pin,
            )
            shard = await asyncio.to_thread(self._create_on_disk, paths, sidecar)
            collection = LiveCollection(
                paths=paths,
                model_set=model_set,
                created_at=sidecar.created_at,
                moderation=moderation,
                ocr=ocr,
                description=description,
                score_pin=score_pin,
                settings=self._index,
                shard=shard,
            )
            self._collections[name] = collection
            if keep_originals:
                self._originals[name] = OriginalsStore(paths.root / ORIGINALS_DIR)
        return await collection.info()

    def _create_on_disk(self, paths: CollectionPaths, sidecar: Sidecar) -> EdgeShard:
        if paths.root.exists():
            shutil.rmtree(paths.root)  # a leftover of a create that crashed before its sidecar
        paths.root.mkdir()
        shard = create_shard(paths.shard, edge_config(sidecar.model_set, self._index))
        write_sidecar(paths, sidecar)
        fsync_dir(self._root)
        return shard

    async def get_collection(self, name: str) -> CollectionInfo:
        """Describe a collection; CollectionNotFound if missing."""
        return await self._collection(name).info()

    async def model_set(self, name: str) -> ModelSetRecord:
        """The collection's model set, from memory."""
        return self._collection(name).model_set

    async def moderation(self, name: str) -> ModerationPolicy:
        """The collection's moderation policy, from memory."""
        return self._collection(name).moderation

    async def ocr_policy(self, name: str) -> OcrPolicy:
        """The collection's OCR policy, from memory."""
        return self._collection(name).ocr

    async def score_pin(self, name: str) -> ScorePin:
        """The calibration version the collection was created under, from memory."""
        return self._collection(name).score_pin

    async def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""
        infos = []
        for name in sorted(self._collections):
            try:
                infos.append(await self._collections[name].info())
            except (CollectionNotFound, KeyError):
                continue  # deleted while listing
        return infos

    async def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; CollectionNotFound if missing."""
        async with self._catalog_lock:
            if self._aliases.is_alias(name):
                raise CollectionNotFound(f"{name!r} is an alias of {self._aliases.resolve(name)!r}: delete the alias")
            collection = self._collection(name)
            del self._collections[name]
            self._originals.pop(name, None)
            self._aliases.drop_collection(name)
            await self._stop_build(name)
            self._backoff.forget(name)
            self._claims.forget(name)
            await collection.close()
            collection.paths.sidecar.unlink()
            await asyncio.to_thread(shutil.rmtree, collection.paths.root)

    async def upsert(self, name: str, points: Sequence[PointToStore]) -> None:
        """Insert or replace points; durable when this returns; may start an index build."""
        collection = self._collection(name)
        originals = self._originals.get(collection.name)
        if originals is not None:
            # Before the items: an item never lacks its original (originals.py).
            await asyncio.to_thread(_put_originals, originals, points)
        await collection.upsert(points)
        await self._maybe_start_build(collection)

    async def search(
        self,
        name: str,
        vector: np.ndarray,
        limit: int,
        min_score: float = 0.0,
        space: str | None = None,
        flt: Filter | None = None,
        with_fingerprint: bool = False,
    ) -> list[ScoredHit]:
        """The `limit` (1-1000) nearest points in `space` (default: the first) with
        score >= min_score passing `flt`, best first."""
        return await self._collection(name).search(
            vector, limit, min_score, space=space, flt=flt, with_fingerprint=with_fingerprint
        )

    async def scroll(
        self, name: str, offset: str | None, limit: int, flt: Filter | None = None, with_vectors: bool = True
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points passing `flt` (with vectors and fingerprints when asked), and
        the next page's offset."""
        return await self._collection(name).scroll(offset, limit, flt, with_vectors)

    async def update_metadata(self, name: str, point_id: str, metadata: dict[str, Any]) -> StoredPoint | None:
        """Replace a point's metadata; None when it does not exist."""
        return await self._collection(name).update_metadata(point_id, metadata)

    async def update_collection(
        self, name: str, description: str | None = None, moderation: ModerationPolicy | None = None
    ) -> CollectionInfo:
        """Change the description and/or moderation policy, recorded in collection.json first."""
        async with self._catalog_lock:
            collection = self._collection(name)
            sidecar = Sidecar(
                model_set=collection.model_set,
                created_at=collection.created_at,
                moderation=collection.moderation if moderation is None else moderation,
                description=collection.description if description is None else description,
                # Kept as recorded (before, an update dropped the OCR policy and keep_originals).
                ocr=collection.ocr,
                keep_originals=name in self._originals,
                score_pin=collection.score_pin,
            )
            await asyncio.to_thread(write_sidecar, collection.paths, sidecar)
            collection.moderation, collection.description = sidecar.moderation, sidecar.description
        return await collection.info()

    async def get(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[StoredPoint]:
        """The points among `ids` that exist, in the order asked."""
        return await self._collection(name).get(ids, with_vectors)

    async def filtered_points(
        self, name: str, flt: Filter, offset: str | None, limit: int
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of the points passing `flt` (no vectors), and the next page's token."""
        return await self._collection(name).filtered_points(flt, offset, limit)

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete points by id; returns how many existed."""
        collection = self._collection(name)
        deleted = await collection.delete(ids)
        originals = self._originals.get(collection.name)
        if originals is not None:
            await asyncio.to_thread(originals.delete, [point_uuid(i) for i in ids])
        if deleted:
            await self._maybe_start_build(collection)  # deleted points stay on until a build
        return deleted

    async def count(self, name: str, flt: Filter | None = None) -> int:
        """Number of points in the collection (passing `flt`)."""
        return await self._collection(name).count(flt)

    async def build_index(self, name: str) -> CollectionInfo:
        """Build the HNSW index of a collection now (in a child process) and wait for it.

        If a build of this collection is already running, waits for it instead.
        """
        collection = self._collection(name)
        task = self._builds.get(name) or self._start_build(collection)
        await asyncio.shield(task)
        return await collection.info()

    async def _maybe_start_build(self, collection: LiveCollection) -> None:
        if self._index.threshold <= 0 or collection.name in self._builds or not self._backoff.allows(collection.name):
            return
        unindexed, dead, points = await collection.build_need()
        if unindexed > self._index.threshold or dead > self._index.dead_points_limit(points):
            self._start_build(collection)

    def _start_build(self, collection: LiveCollection) -> asyncio.Task[BuildReport]:
        task = asyncio.create_task(self._build(collection), name=f"index-build-{collection.name}")
        self._builds[collection.name] = task
        task.add_done_callback(lambda done: self._build_done(collection.name, done))
        return task

    async def _build(self, collection: LiveCollection) -> BuildReport:
        async with self._build_slot:
            report = await build_index(collection)
        log.info(
            "indexed %s: %d points (copy %.1fs, optimize %.1fs, swap %.1fs, %d writes replayed)",
            report.collection,
            report.indexed_count,
            report.copy_s,
            report.optimize_s,
            report.swap_s,
            report.journaled_writes,
        )
        return report

    def _build_done(self, name: str, task: asyncio.Task[BuildReport]) -> None:
        if self._builds.get(name) is task:
            del self._builds[name]
        if task.cancelled():
            return
        if task.exception() is None:
            self._backoff.succeeded(name)
            return
        pause = self._backoff.failed(name)
        log.error("index build of %s failed; next automatic try in %.0f s", name, pause, exc_info=task.exception())

    async def _stop_build(self, name: str) -> None:
        task = self._builds.get(name)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # Duplicate-check claims (claims.py): in memory, as one process serves a data dir.

    async def put_claim(self, name: str, claim: Claim) -> None:
        self._claims.put(name, claim)

    async def claims(self, name: str) -> list[Claim]:
        return self._claims.read(name)

    async def transition_claim(self, name: str, claim: Claim, expected: ClaimState | None) -> Claim | None:
        return self._claims.transition(name, claim, expected)

    async def drop_claim(self, name: str, claim_id: str) -> None:
        self._claims.drop(name, claim_id)

    async def close(self) -> None:
        """Cancel index builds, flush and close every shard; the store is unusable afterwards."""
        async with self._catalog_lock:
            if self._closed:
                return
            self._closed = True
            for name in list(self._builds):
                await self._stop_build(name)
            for collection in self._collections.values():
                await collection.close()
            self._collections.clear()
            self._lock.release()


def _put_originals(originals: OriginalsStore, points: Sequence[PointToStore]) -> None:
    for point in points:
        if point.original is not None:
            originals.put(point_uuid(point.id), point.original)

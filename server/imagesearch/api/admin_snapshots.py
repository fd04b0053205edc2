"""Snapshot handlers: the standard methods on "collections/{collection}/snapshots/{snapshot}",
:restore, and the file's way between servers (DownloadSnapshot out, UploadSnapshot in).

The store does the work (store/edge_admin.py, store/remote_admin.py). A snapshot of the
embedded store is a scroll of the live collection: no write is blocked, and every item
acknowledged before CreateSnapshot is in the file. Download and upload need the embedded
store; a remote Qdrant serves and receives its snapshot files over its own REST API
(docs/operations.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

from google.protobuf import empty_pb2
from imagesearch_client.v1 import admin_pb2 as apb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import admin_convert as convert
from imagesearch.api import convert as api_convert
from imagesearch.api import validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import failed_precondition, invalid, stream_errors, unary_errors
from imagesearch.limits import SNAPSHOT_CHUNK_BYTES
from imagesearch.store.base import ALL_COLLECTIONS
from imagesearch.store.snapshot_file import SnapshotCorrupt
from imagesearch.store.snapshots import SNAPSHOT_NAME, SnapshotCatalog, SnapshotNotFound

REMOTE_TRANSFER = (
    "this server keeps its collections in a remote Qdrant, which holds the snapshot files: download them with "
    "Qdrant's GET /collections/{collection}/snapshots/{snapshot} and upload with POST "
    "/collections/{collection}/snapshots/upload (docs/operations.md)"
)


class SnapshotHandlers:
    """CreateSnapshot, ListSnapshots, GetSnapshot, DeleteSnapshot, RestoreSnapshot,
    DownloadSnapshot, UploadSnapshot."""

    ctx: ServiceContext

    def _catalog(self) -> SnapshotCatalog:
        catalog = getattr(self.ctx.store, "snapshots", None)
        if not isinstance(catalog, SnapshotCatalog):
            raise failed_precondition(ErrorReason.STORE_UNSUPPORTED, REMOTE_TRANSFER)
        return catalog

    @unary_errors
    async def CreateSnapshot(self, request: apb.CreateSnapshotRequest, context) -> apb.Snapshot:
        collection = convert.snapshot_parent(request.parent)
        return convert.snapshot(await self.ctx.store.create_snapshot(collection))

    @unary_errors
    async def ListSnapshots(self, request: apb.ListSnapshotsRequest, context) -> apb.ListSnapshotsResponse:
        collection = convert.snapshot_parent(request.parent)
        if collection is not None:
            # No existence check: the snapshots of a deleted collection are what restores it.
            collection = await self.ctx.store.resolve(collection)
        infos = await self.ctx.store.list_snapshots(collection)
        page, token = convert.paged(infos, lambda i: [i.created_at, i.collection, i.name], request.page_size,
                                    request.page_token, "snapshots", request.parent)
        return apb.ListSnapshotsResponse(snapshots=[convert.snapshot(i) for i in page], next_page_token=token)

    async def _resolved(self, name: str) -> convert.SnapshotName:
        """The snapshot a name designates, its collection part resolved if it is an alias."""
        wanted = convert.snapshot_name(name)
        if wanted.collection == ALL_COLLECTIONS:
            return wanted
        return convert.SnapshotName(await self.ctx.store.resolve(wanted.collection), wanted.snapshot)

    async def _info(self, name: str):
        wanted = await self._resolved(name)
        collection = wanted.collection
        catalog = getattr(self.ctx.store, "snapshots", None)
        if isinstance(catalog, SnapshotCatalog):  # one manifest read, not the whole folder's
            return await asyncio.to_thread(catalog.info, collection, wanted.snapshot)
        for info in await self.ctx.store.list_snapshots(None if collection == ALL_COLLECTIONS else collection):
            if info.name == wanted.snapshot:
                return info
        raise SnapshotNotFound(f"snapshot {collection}/{wanted.snapshot} does not exist: see ListSnapshots")

    @unary_errors
    async def GetSnapshot(self, request: apb.GetSnapshotRequest, context) -> apb.Snapshot:
        return convert.snapshot(await self._info(request.name))

    @unary_errors
    async def DeleteSnapshot(self, request: apb.DeleteSnapshotRequest, context) -> empty_pb2.Empty:
        wanted = await self._resolved(request.name)
        await self.ctx.store.delete_snapshot(wanted.collection, wanted.snapshot)
        return empty_pb2.Empty()

    @unary_errors
    async def RestoreSnapshot(self, request: apb.RestoreSnapshotRequest, context) -> apb.RestoreSnapshotResponse:
        wanted = await self._resolved(request.name)
        target = None
        if request.collection_id:
            target = validation.collection_id(request.collection_id)
            if wanted.collection == ALL_COLLECTIONS:
                raise invalid("collection_id", "collection_id renames a one-collection snapshot; a snapshot of "
                              "every collection restores each under its own ID: leave collection_id empty")
        served = [s.record for s in self.ctx.model_sets.values()]
        infos = await self.ctx.store.restore_snapshot(wanted.collection, wanted.snapshot, served, target)
        keeps = self.ctx.store.keeps_originals
        return apb.RestoreSnapshotResponse(collections=[api_convert.collection(i, await keeps(i.name)) for i in infos])

    @stream_errors
    async def DownloadSnapshot(self, request: apb.DownloadSnapshotRequest, context) -> AsyncIterator[apb.DownloadSnapshotResponse]:
        self._catalog()  # STORE_UNSUPPORTED with a remote Qdrant
        info = await self._info(request.name)
        with open(info.location, "rb") as f:
            first = True
            while True:
                data = await asyncio.to_thread(f.read, SNAPSHOT_CHUNK_BYTES)
                if not data and not first:
                    return
                yield apb.DownloadSnapshotResponse(snapshot=convert.snapshot(info) if first else None, data=data)
                first = False

    @unary_errors
    async def UploadSnapshot(self, requests: AsyncIterator[apb.UploadSnapshotRequest], context) -> apb.Snapshot:
        catalog = self._catalog()
        path = await asyncio.to_thread(catalog.upload_path)
        snapshot_id, first = "", True
        try:
            with open(path, "wb") as f:
                async for request in requests:
                    if first:
                        snapshot_id, first = request.snapshot_id, False
                        if snapshot_id and not SNAPSHOT_NAME.fullmatch(snapshot_id):
                            raise invalid("snapshot_id", f"{snapshot_id[:140]!r} is not a snapshot ID: 1-128 letters, "
                                          "digits, '_', '.', '-', starting with a letter or digit",
                                          ErrorReason.RESOURCE_NAME_INVALID)
                    await asyncio.to_thread(f.write, request.data)
            return convert.snapshot(await asyncio.to_thread(catalog.adopt_upload, Path(path), snapshot_id))
        except SnapshotCorrupt as exc:
            raise invalid("data", f"the uploaded file is not a complete snapshot ({exc}); nothing was kept: upload "
                          "the whole file again", ErrorReason.SNAPSHOT_CORRUPT) from None
        finally:
            Path(path).unlink(missing_ok=True)

"""Aliases and snapshots of RemoteQdrantStore, through Qdrant's own APIs.

UNTESTED: no Qdrant server is available where this was written; it follows Qdrant's
documented API (qdrant-client 1.20: update_collection_aliases, create_snapshot,
list_snapshots, delete_snapshot, recover_snapshot). Aliases are Qdrant's: every point
operation resolves them server-side, and one update_collection_aliases call (delete +
create) switches an alias atomically. Snapshots are Qdrant's collection snapshots, kept by
the Qdrant server under its snapshots_path; restore asks Qdrant to recover from a location
it can read (file:// on its own disk, or http(s)://, e.g. another Qdrant's snapshot URL).
"""

from __future__ import annotations

import calendar
import time
from typing import TYPE_CHECKING, Sequence

from qdrant_client import models

from imagesearch.store.base import (
    Alias,
    AliasExists,
    AliasNotFound,
    CollectionExists,
    CollectionInfo,
    ModelSetRecord,
    OriginalsNotKept,
    Progress,
    SnapshotInfo,
    check_collection_name,
)
from imagesearch.store.originals import OriginalsUsage
from imagesearch.store.snapshots import SnapshotError, SnapshotNotFound, check_served

if TYPE_CHECKING:
    from imagesearch.store.remote import RemoteQdrantStore

# Where a Qdrant server keeps snapshots (its storage.snapshots_path; this is the official
# Docker image's), as recover_snapshot wants it: a location on the Qdrant server's own disk.
DEFAULT_SNAPSHOTS_LOCATION = "file:///qdrant/snapshots"


class RemoteAdmin:
    """Mixin of RemoteQdrantStore."""

    snapshots_location: str = DEFAULT_SNAPSHOTS_LOCATION

    async def _alias_map(self: "RemoteQdrantStore") -> dict[str, str]:
        response = await self._client.get_aliases()
        return {a.alias_name: a.collection_name for a in response.aliases}

    def _forget(self: "RemoteQdrantStore", name: str) -> None:
        # The per-name caches would keep an alias's old collection's model set.
        self._settings.drop(name)
        self._indexed.pop(name, None)

    async def keeps_originals(self: "RemoteQdrantStore", name: str) -> bool:
        """Never: originals are kept by the embedded store only."""
        await self.model_set(name)
        return False

    async def get_original(self: "RemoteQdrantStore", name: str, point_id: str) -> bytes | None:
        raise OriginalsNotKept("a remote Qdrant store keeps no originals")

    async def originals_usage(self: "RemoteQdrantStore", name: str) -> OriginalsUsage:
        await self.model_set(name)
        return OriginalsUsage(0, 0)

    async def resolve(self: "RemoteQdrantStore", name: str) -> str:
        """The collection `name` designates (one get_aliases round trip)."""
        return (await self._alias_map()).get(name, name)

    async def create_alias(self: "RemoteQdrantStore", alias: str, collection: str) -> Alias:
        check_collection_name(alias)
        target = await self.resolve(collection)
        await self._record(target)  # CollectionNotFound unless ours
        if alias in await self._alias_map() or await self._client.collection_exists(alias):
            raise AliasExists(f"{alias!r} is already an alias or a collection")
        await self._client.update_collection_aliases(
            [models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=alias))]
        )
        return Alias(alias, target)

    async def switch_alias(self: "RemoteQdrantStore", alias: str, collection: str) -> Alias:
        target = await self.resolve(collection)
        await self._record(target)
        if alias not in await self._alias_map():
            raise AliasNotFound(f"alias {alias!r} does not exist")
        await self._client.update_collection_aliases([
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=target, alias_name=alias)),
        ])
        self._forget(alias)
        return Alias(alias, target)

    async def delete_alias(self: "RemoteQdrantStore", alias: str) -> None:
        if alias not in await self._alias_map():
            raise AliasNotFound(f"alias {alias!r} does not exist")
        await self._client.update_collection_aliases(
            [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))]
        )
        self._forget(alias)

    async def list_aliases(self: "RemoteQdrantStore", collection: str | None = None) -> list[Alias]:
        mapping = await self._alias_map()
        return [Alias(a, c) for a, c in sorted(mapping.items()) if collection in (None, c)]

    async def create_snapshot(self: "RemoteQdrantStore", collection: str | None, progress: Progress | None = None) -> SnapshotInfo:
        """A Qdrant collection snapshot (Qdrant writes it on its own disk)."""
        if collection is None:
            raise SnapshotError("with a remote Qdrant, snapshot collections one by one (or use Qdrant's full "
                                "storage snapshot, restored by starting Qdrant with --storage-snapshot)")
        name = await self.resolve(collection)
        await self._record(name)
        description = await self._client.create_snapshot(collection_name=name, wait=True)
        if progress:
            progress(1, 1)
        return self._snapshot_info(name, description)

    def _snapshot_info(self: "RemoteQdrantStore", collection: str, d: models.SnapshotDescription) -> SnapshotInfo:
        # Qdrant reports UTC without a zone: "2024-05-01T10:20:30" (fractions dropped).
        created = calendar.timegm(time.strptime(d.creation_time[:19], "%Y-%m-%dT%H:%M:%S")) if d.creation_time else 0.0
        return SnapshotInfo(
            name=d.name, collection=collection, created_at=created, size_bytes=d.size, checksum=d.checksum or "",
            location=f"{self.snapshots_location}/{collection}/{d.name}",
        )

    async def list_snapshots(self: "RemoteQdrantStore", collection: str | None = None) -> list[SnapshotInfo]:
        names = [await self.resolve(collection)] if collection else [c.name for c in await self.list_collections()]
        infos = [self._snapshot_info(n, d) for n in names for d in await self._client.list_snapshots(collection_name=n)]
        return sorted(infos, key=lambda i: (i.created_at, i.name))

    async def delete_snapshot(self: "RemoteQdrantStore", collection: str, snapshot: str) -> None:
        await self._find_snapshot(collection, snapshot)
        await self._client.delete_snapshot(collection_name=collection, snapshot_name=snapshot, wait=True)

    async def _find_snapshot(self: "RemoteQdrantStore", collection: str, snapshot: str) -> SnapshotInfo:
        for info in await self.list_snapshots(collection):
            if info.name == snapshot:
                return info
        raise SnapshotNotFound(f"snapshot {collection}/{snapshot} does not exist on the Qdrant server")

    async def restore_snapshot(
        self: "RemoteQdrantStore",
        collection: str,
        snapshot: str,
        served: Sequence[ModelSetRecord] | None,
        target: str | None = None,
        progress: Progress | None = None,
    ) -> list[CollectionInfo]:
        """Recover a Qdrant snapshot into a new collection. `snapshot` is a snapshot name of
        `collection` on this Qdrant, or a URL Qdrant can fetch (http(s)://, file://). Qdrant
        checks the file against the checksum when the snapshot is its own; the collection is
        deleted again if its model set is not served (Qdrant cannot read the snapshot's
        metadata before recovering it)."""
        name = target or collection
        check_collection_name(name)
        if await self._client.collection_exists(name):
            raise CollectionExists(f"collection {name!r} already exists: delete it or restore under another name")
        if "://" in snapshot:
            location, checksum = snapshot, None
        else:
            found = await self._find_snapshot(collection, snapshot)
            location, checksum = found.location, found.checksum or None
        await self._client.recover_snapshot(collection_name=name, location=location, checksum=checksum, wait=True)
        self._forget(name)
        try:
            check_served(name, await self.model_set(name), None if served is None else list(served))
        except Exception:
            await self._client.delete_collection(name)
            self._forget(name)
            raise
        if progress:
            progress(1, 1)
        return [await self.get_collection(name)]

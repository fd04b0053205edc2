"""The blocking administration client (admin.proto): snapshots, aliases, re-processing and
API keys. Get it from ImageSearchClient.admin (same channel, key and timeout). Every call
needs a key with the admin role (docs/security.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterator

import grpc

from imagesearch_client.admin_types import (
    Alias, ApiKey, CreatedApiKey, ReprocessProgress, Snapshot, api_key_request, reprocess_request, snapshot_name,
)
from imagesearch_client.names import collection_name, encode_id
from imagesearch_client.types import Collection
from imagesearch_client.v1 import admin_pb2 as apb
from imagesearch_client.v1 import admin_pb2_grpc as apb_grpc

# Bytes per UploadSnapshot message (the server sends 1 MiB DownloadSnapshot chunks too).
CHUNK_BYTES = 1 << 20


def _parent(collection: str | None) -> str:
    return collection_name(collection) if collection else "collections/-"


class AdminClient:
    """Blocking client of imagesearch.v1.ImageSearchAdminService."""

    def __init__(self, channel: grpc.Channel, timeout: float) -> None:
        self._stub = apb_grpc.ImageSearchAdminServiceStub(channel)
        self.timeout = timeout

    # Snapshots

    def create_snapshot(self, collection: str | None = None, timeout: float | None = None) -> Snapshot:
        """Snapshots one collection (None: every collection) while the server serves."""
        reply = self._stub.CreateSnapshot(apb.CreateSnapshotRequest(parent=_parent(collection)),
                                          timeout=timeout or self.timeout)
        return Snapshot.from_proto(reply)

    def list_snapshots(self, collection: str | None = None) -> list[Snapshot]:
        """Snapshots of one collection (None: of every collection), oldest first."""
        found, token = [], ""
        while True:
            reply = self._stub.ListSnapshots(apb.ListSnapshotsRequest(parent=_parent(collection), page_token=token),
                                             timeout=self.timeout)
            found.extend(Snapshot.from_proto(s) for s in reply.snapshots)
            token = reply.next_page_token
            if not token:
                return found

    def get_snapshot(self, collection: str | None, snapshot: str) -> Snapshot:
        """One snapshot's description."""
        return Snapshot.from_proto(self._stub.GetSnapshot(
            apb.GetSnapshotRequest(name=snapshot_name(collection, snapshot)), timeout=self.timeout))

    def delete_snapshot(self, collection: str | None, snapshot: str) -> None:
        """Deletes one snapshot file."""
        self._stub.DeleteSnapshot(apb.DeleteSnapshotRequest(name=snapshot_name(collection, snapshot)),
                                  timeout=self.timeout)

    def restore_snapshot(
        self, collection: str | None, snapshot: str, as_collection: str = "", timeout: float | None = None
    ) -> list[Collection]:
        """Creates the snapshot's collection(s) (a one-collection snapshot under `as_collection` if given)."""
        request = apb.RestoreSnapshotRequest(name=snapshot_name(collection, snapshot), collection_id=as_collection)
        reply = self._stub.RestoreSnapshot(request, timeout=timeout or self.timeout)
        return [Collection.from_proto(c) for c in reply.collections]

    def download_snapshot(
        self, collection: str | None, snapshot: str, path: Path, timeout: float | None = None
    ) -> Snapshot:
        """Writes the snapshot file to `path` (a new file); returns its description."""
        request = apb.DownloadSnapshotRequest(name=snapshot_name(collection, snapshot))
        info = None
        with open(path, "xb") as f:  # refuses to overwrite a file
            try:
                for chunk in self._stub.DownloadSnapshot(request, timeout=timeout):
                    if chunk.HasField("snapshot"):
                        info = Snapshot.from_proto(chunk.snapshot)
                    f.write(chunk.data)
            except BaseException:
                Path(path).unlink(missing_ok=True)  # no partial file is left behind
                raise
        return info

    def upload_snapshot(self, path: Path, snapshot_id: str = "", timeout: float | None = None) -> Snapshot:
        """Sends a snapshot file into the server's catalog (checked whole before it is kept)."""

        def requests() -> Iterator[apb.UploadSnapshotRequest]:
            with open(path, "rb") as f:
                first = True
                while (data := f.read(CHUNK_BYTES)) or first:
                    yield apb.UploadSnapshotRequest(snapshot_id=snapshot_id if first else "", data=data)
                    first = False

        return Snapshot.from_proto(self._stub.UploadSnapshot(requests(), timeout=timeout))

    # Aliases

    def create_alias(self, alias: str, collection: str) -> Alias:
        """Creates `alias` for `collection`."""
        request = apb.CreateAliasRequest(alias_id=alias, alias=apb.Alias(collection=collection_name(collection)))
        return Alias.from_proto(self._stub.CreateAlias(request, timeout=self.timeout))

    def get_alias(self, alias: str) -> Alias:
        """One alias."""
        return Alias.from_proto(self._stub.GetAlias(apb.GetAliasRequest(name=f"aliases/{alias}"), timeout=self.timeout))

    def list_aliases(self, collection: str | None = None) -> list[Alias]:
        """Every alias (or those of `collection`), sorted by ID."""
        found, token = [], ""
        while True:
            request = apb.ListAliasesRequest(collection=collection_name(collection) if collection else "",
                                             page_token=token)
            reply = self._stub.ListAliases(request, timeout=self.timeout)
            found.extend(Alias.from_proto(a) for a in reply.aliases)
            token = reply.next_page_token
            if not token:
                return found

    def switch_alias(self, alias: str, collection: str) -> Alias:
        """Points `alias` at `collection`, atomically."""
        request = apb.UpdateAliasRequest(alias=apb.Alias(name=f"aliases/{alias}", collection=collection_name(collection)))
        return Alias.from_proto(self._stub.UpdateAlias(request, timeout=self.timeout))

    def delete_alias(self, alias: str) -> None:
        """Deletes an alias (not its collection)."""
        self._stub.DeleteAlias(apb.DeleteAliasRequest(name=f"aliases/{alias}"), timeout=self.timeout)

    # Re-processing

    def reprocess(
        self, collection: str, mode: str = "fill", target: str = "", model_set: str = "", timeout: float | None = None
    ) -> Iterator[ReprocessProgress]:
        """Re-runs the models over a keep_originals collection ("fill" or "reembed" into
        `target`); yields progress, the last with finished=True. Resumable: call again."""
        call = self._stub.ReprocessCollection(reprocess_request(collection, mode, target, model_set), timeout=timeout)
        try:
            for reply in call:
                yield ReprocessProgress.from_proto(reply)
        finally:
            call.cancel()  # a caller that stops reading stops the run (resumable)

    # API keys

    def create_api_key(self, key_id: str, roles: list[str], expire_time: datetime | None = None) -> CreatedApiKey:
        """Creates a key with `roles` (ROLE:PATTERN); the result holds the key, shown only now."""
        reply = self._stub.CreateApiKey(api_key_request(key_id, roles, expire_time), timeout=self.timeout)
        return CreatedApiKey(ApiKey.from_proto(reply.api_key), reply.key)

    def get_api_key(self, key_id: str) -> ApiKey:
        """One key's description."""
        request = apb.GetApiKeyRequest(name=f"apiKeys/{encode_id(key_id)}")
        return ApiKey.from_proto(self._stub.GetApiKey(request, timeout=self.timeout))

    def list_api_keys(self) -> list[ApiKey]:
        """Every key's description, sorted by ID."""
        found, token = [], ""
        while True:
            reply = self._stub.ListApiKeys(apb.ListApiKeysRequest(page_token=token), timeout=self.timeout)
            found.extend(ApiKey.from_proto(k) for k in reply.api_keys)
            token = reply.next_page_token
            if not token:
                return found

    def delete_api_key(self, key_id: str) -> None:
        """Revokes a key: refused from the next call on."""
        self._stub.DeleteApiKey(apb.DeleteApiKeyRequest(name=f"apiKeys/{encode_id(key_id)}"), timeout=self.timeout)

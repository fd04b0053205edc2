"""Duplicate-check claims kept in Qdrant, for API replicas sharing one Qdrant server or
cluster (the protocol: dedup/replicas.py; the record: claims.py).

All claims live in one collection, CLAIMS_COLLECTION, one point per claim (no vectors; the
payload holds the claim and the name of the collection it belongs to). Its name starts with
"_", which no collection name of ours can (base.COLLECTION_NAME_PATTERN), and it carries no
imagesearch metadata, so list_collections never shows it.

The one operation the protocol needs besides plain reads and writes is a compare-and-set of
a claim's state. That is Qdrant's conditional update (server >= 1.16, qdrant-client >= 1.16):
an upsert with `update_filter` (state == expected) and `update_mode=update_only` changes the
point only if it exists and matches the filter, inside the one shard that holds the point,
where updates are applied one at a time. Writes go with `ordering=strong` (through the
shard's permanent leader, so two replicas' writes to one claim are ordered the same way on
every copy) and reads with `consistency=majority`. What only a real cluster can show, and the
script that checks it: docs/deploy.md, "Several API replicas".
"""

from __future__ import annotations

import asyncio
import warnings

from qdrant_client import AsyncQdrantClient, models

from imagesearch.store.claims import MAX_CLAIMS_READ, Claim, ClaimState

CLAIMS_COLLECTION = "_imagesearch_claims"
WRITE = models.WriteOrdering.STRONG
READ = models.ReadConsistencyType.MAJORITY


class RemoteClaims:
    """Claims in CLAIMS_COLLECTION, created on first use (by whichever replica comes first)."""

    def __init__(self, client: AsyncQdrantClient, replication_factor: int = 0) -> None:
        self._client = client
        self._replication_factor = replication_factor
        self._ready = False
        self._creating = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._ready:
            return
        async with self._creating:
            if not self._ready and not await self._client.collection_exists(CLAIMS_COLLECTION):
                try:
                    # One shard: a handful of points; every claim of a collection is read at once.
                    await self._client.create_collection(
                        CLAIMS_COLLECTION, vectors_config={}, shard_number=1,
                        replication_factor=self._replication_factor or None,
                    )
                    with warnings.catch_warnings():  # local mode (tests) says indexes do nothing there
                        warnings.simplefilter("ignore", UserWarning)
                        await self._client.create_payload_index(
                            CLAIMS_COLLECTION, "collection", models.PayloadSchemaType.KEYWORD
                        )
                except Exception:
                    # Another replica created it meanwhile; anything else fails the next call.
                    if not await self._client.collection_exists(CLAIMS_COLLECTION):
                        raise
            self._ready = True

    async def put(self, collection: str, claim: Claim) -> None:
        await self._ensure()
        await self._client.upsert(
            CLAIMS_COLLECTION, [self._point(collection, claim)], wait=True, ordering=WRITE,
            update_mode=models.UpdateMode.INSERT_ONLY,
        )

    async def read(self, collection: str) -> list[Claim]:
        await self._ensure()
        records, _ = await self._client.scroll(
            CLAIMS_COLLECTION,
            scroll_filter=_of(collection),
            limit=MAX_CLAIMS_READ,
            with_payload=True,
            with_vectors=False,
            consistency=READ,
        )
        return [Claim.from_payload(str(record.id), record.payload) for record in records]

    async def transition(self, collection: str, claim: Claim, expected: ClaimState | None) -> Claim | None:
        """Conditional update: `claim` replaces the stored one only if that one's state is
        `expected` (None: any); returns the stored claim afterwards (None: there is none)."""
        await self._ensure()
        condition = None
        if expected is not None:
            condition = models.Filter(must=[models.FieldCondition(key="state", match=models.MatchValue(value=expected.value))])
        await self._client.upsert(
            CLAIMS_COLLECTION, [self._point(collection, claim)], wait=True, ordering=WRITE,
            update_filter=condition, update_mode=models.UpdateMode.UPDATE_ONLY,
        )
        records = await self._client.retrieve(CLAIMS_COLLECTION, [claim.id], with_payload=True, consistency=READ)
        return Claim.from_payload(str(records[0].id), records[0].payload) if records else None

    async def drop(self, collection: str, claim_id: str) -> None:
        await self._ensure()
        await self._client.delete(
            CLAIMS_COLLECTION, models.PointIdsList(points=[claim_id]), wait=True, ordering=WRITE
        )

    async def forget(self, collection: str) -> None:
        """The collection was deleted: drop its claims (if any collection ever had some)."""
        if not self._ready and not await self._client.collection_exists(CLAIMS_COLLECTION):
            return
        await self._client.delete(CLAIMS_COLLECTION, models.FilterSelector(filter=_of(collection)), wait=True)

    @staticmethod
    def _point(collection: str, claim: Claim) -> models.PointStruct:
        return models.PointStruct(id=claim.id, vector={}, payload=claim.to_payload(collection))


def _of(collection: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="collection", match=models.MatchValue(value=collection))])

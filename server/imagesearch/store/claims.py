"""Duplicate-check claims: the records through which API replicas sharing one store see each
other's checked inserts while they are in flight (the protocol: dedup/replicas.py).

A claim is written before an insert's duplicate check and removed once the insert is
settled (stored, or answered as a duplicate). It carries what another replica needs to
judge the in-flight image against its own (the image-similarity vector and the
fingerprint) and a state that only changes by compare-and-set (`transition`), which is
what makes the protocol correct under every interleaving of two replicas' steps.

The embedded store keeps claims in memory (`MemoryClaims`): a data dir is served by one
process only (datadir_lock.py), so everything that shares its claims shares the store
object. The remote store keeps them in Qdrant (remote_claims.py).
"""

from __future__ import annotations

import base64
import enum
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# The most claims one read returns per collection. Each API process holds at most one claim
# per collection at a time (the per-process check lock in api/ingest.py), so this bounds the
# replicas of one collection's writers, far above any deployment's (k8s scale-out: 2-10).
MAX_CLAIMS_READ = 256


class ClaimState(str, enum.Enum):
    """PENDING: checking. BEATEN: a claim with a lower key judged this one a copy of its own
    image; its owner must wait for that claim before checking again. COMMITTED: decided to
    store; its item is being written. EXPIRED: a reader found it older than the lease (its
    owner is presumed dead); it can never commit."""

    PENDING = "pending"
    BEATEN = "beaten"
    COMMITTED = "committed"
    EXPIRED = "expired"


@dataclass(frozen=True, eq=False)
class Claim:
    """One in-flight checked insert of `item_id` in a collection.

    created_at: the owner's wall clock (seconds since the epoch) when it wrote the claim;
        with `id` it orders claims (`key`) and ages them against the lease.
    vector: the image's vector in the collection's image-similarity space (float32).
    fingerprint: the image's fingerprint payload (dedup/fingerprint.py).
    beaten_by / beat_score: who beat it, and the score that claim's owner judged the pair.
    """

    id: str
    item_id: str
    created_at: float
    sha256: str
    vector: np.ndarray
    fingerprint: dict[str, Any] = field(default_factory=dict)
    state: ClaimState = ClaimState.PENDING
    beaten_by: str = ""
    beat_score: float = 0.0

    @classmethod
    def new(cls, item_id: str, vector: np.ndarray, fingerprint: dict[str, Any], now: float | None = None) -> "Claim":
        """A fresh PENDING claim with a random id, created now."""
        return cls(
            id=str(uuid.uuid4()),
            item_id=item_id,
            created_at=time.time() if now is None else now,
            sha256=str(fingerprint.get("sha256", "")),
            vector=np.asarray(vector, dtype=np.float32),
            fingerprint=dict(fingerprint),
        )

    @property
    def key(self) -> tuple[float, str]:
        """The total order of claims: older first, ties broken by the random id."""
        return (self.created_at, self.id)

    def to(self, state: ClaimState, beaten_by: str = "", beat_score: float = 0.0) -> "Claim":
        """This claim in another state."""
        return replace(self, state=state, beaten_by=beaten_by, beat_score=beat_score)

    def to_payload(self, collection: str) -> dict[str, Any]:
        """As stored in the remote store's claims collection."""
        return {
            "collection": collection,
            "item_id": self.item_id,
            "created_at": self.created_at,
            "sha256": self.sha256,
            # float32 bytes: exact, and a fifth of the size of a JSON list of floats.
            "vector": base64.b64encode(self.vector.astype("<f4").tobytes()).decode("ascii"),
            "fingerprint": self.fingerprint,
            "state": self.state.value,
            "beaten_by": self.beaten_by,
            "beat_score": self.beat_score,
        }

    @classmethod
    def from_payload(cls, claim_id: str, raw: dict[str, Any]) -> "Claim":
        """Inverse of to_payload."""
        return cls(
            id=claim_id,
            item_id=raw["item_id"],
            created_at=float(raw["created_at"]),
            sha256=raw.get("sha256", ""),
            vector=np.frombuffer(base64.b64decode(raw["vector"]), dtype="<f4").astype(np.float32),
            fingerprint=raw.get("fingerprint") or {},
            state=ClaimState(raw["state"]),
            beaten_by=raw.get("beaten_by", ""),
            beat_score=float(raw.get("beat_score", 0.0)),
        )


class MemoryClaims:
    """Claims of one process's collections (the embedded store). Every method runs without
    awaiting, so each is atomic with respect to every other coroutine."""

    def __init__(self) -> None:
        self._by_collection: dict[str, dict[str, Claim]] = {}

    def put(self, collection: str, claim: Claim) -> None:
        self._by_collection.setdefault(collection, {})[claim.id] = claim

    def read(self, collection: str) -> list[Claim]:
        return list(self._by_collection.get(collection, {}).values())[:MAX_CLAIMS_READ]

    def transition(self, collection: str, claim: Claim, expected: ClaimState | None) -> Claim | None:
        """Replace the stored claim with `claim` if its state is `expected` (None: any state);
        returns the stored claim afterwards (None: there is none)."""
        claims = self._by_collection.get(collection, {})
        current = claims.get(claim.id)
        if current is not None and (expected is None or current.state == expected):
            claims[claim.id] = claim
        return claims.get(claim.id)

    def drop(self, collection: str, claim_id: str) -> None:
        self._by_collection.get(collection, {}).pop(claim_id, None)

    def forget(self, collection: str) -> None:
        """The collection was deleted."""
        self._by_collection.pop(collection, None)

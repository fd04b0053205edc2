"""The insert-time duplicate check made correct across API replicas that share one store.

Within one process a lock per collection makes "check, then write" atomic (api/ingest.py).
Replicas do not share that lock, so two near-copies inserted through two replicas at once
could both pass the check. Here every checked insert (policies SKIP, REJECT and ALLOW) first
writes a *claim* (store/claims.py): its image's vector and fingerprint, visible to every
replica. Checks then look at the stored items (DuplicateDetector.find, as before) *and* at
the claims of inserts in flight, and a claim's state only changes by compare-and-set
(`VectorStore.transition_claim`; Qdrant's conditional update for a remote store).

## The protocol, for insert x with claim c (states: claims.ClaimState)

    W   put c (PENDING, key = (created_at, random id)).
    loop (one "round"):
      R   read the collection's claims, THEN run find() over the stored items.
          c gone or EXPIRED: put a fresh claim, next round.
          c BEATEN by b: b COMMITTED -> lose to b; b PENDING/BEATEN -> wait; b gone or
              EXPIRED -> CAS c BEATEN->PENDING, next round.
          find() found a stored duplicate -> lose to it.
          rivals := other claims (not EXPIRED, other item id) that x's rule judges copies.
          a COMMITTED rival -> lose to it.
          a PENDING/BEATEN rival with a lower key -> wait, next round.
      B   for each PENDING rival (all have higher keys): CAS it PENDING->BEATEN(by c).
          Read back: BEATEN/EXPIRED: fine; COMMITTED: lose to it; gone: next round.
      C   CAS c PENDING->COMMITTED; failed (c was beaten or expired meanwhile): next round.
      D   write x's item, THEN drop c.
    Losing: drop c (SKIP, REJECT), or set c COMMITTED, write, drop c (ALLOW stores anyway).

## Why two checked inserts x, y that judge each other copies cannot both be stored

Assume both reached C successfully, in rounds whose claim reads were R_x and R_y, and
R_x < R_y (the store is linearizable; each step is one atomic store call). c_x exists from
W_x until x drops it after its item is written (D_x), and it is PENDING throughout x's final
round up to C_x (only x's own CAS turns BEATEN back to PENDING, and it does that before a
round's read). So at R_y, c_x is:
  1. PENDING (R_y < C_x). If c_x's key is lower, y waits: no C_y in this round. If higher, y
     CASes c_x to BEATEN at B_y > R_y: if B_y < C_x, x's CAS at C_x fails; if B_y > C_x, the
     read-back says COMMITTED and y loses. Either way a contradiction.
  2. COMMITTED (C_x < R_y < drop). y loses to it. Contradiction.
  3. gone (R_y after x dropped it). x's item was written before the drop, so y's find(),
     which runs after R_y, sees it and y loses. Contradiction.
(BEATEN and EXPIRED are impossible for c_x at R_y: it is PENDING from before R_x to C_x.)
Hence both are stored only when the later reader, y, judged x *not* a copy: exactly what one
process would answer with x inserted first and y second. Interleavings of three or more
inserts reduce to these pairs. The rule need not be symmetric, and nothing depends on the
claim keys following real time: keys only decide who waits for whom.

Why the read order matters: with find() before the claims read, y could run find() just
before x writes its item and read the claims just after x drops c_x, and see neither.

## Progress

A round waits only for a claim with a lower key (a lower-keyed live rival, or the claim
that beat it: beating goes from lower keys to higher ones), so waits never form a cycle; and
every claim ends (dropped, or expired by a reader when its owner died). A claim is EXPIRED
(CAS from PENDING or BEATEN) by any reader once older than the lease; its owner's commit
then fails and it starts over with a fresh claim. An owner never commits a claim older than
the lease: so a COMMITTED claim older than twice the lease is a dead owner's, and is dropped.

## What is guaranteed, and what is not

- Two checked inserts in flight at once are answered as one process would answer them in
  some order: at most one of a set of mutual near-copies is stored under SKIP or REJECT,
  and an ALLOW insert's answer names the copy it raced with when it went second.
- No stored item is ever removed by the check: claims live beside the items, and a losing
  insert writes nothing (an item id being replaced keeps its old content when the new image
  is skipped).
- A SKIP answer naming a rival that is still being written waits (at most a lease) until
  that item is written, so the item it returns exists.
- Crash after W (no item written): its claim blocks near-copies until it is a lease old
  (`duplicate_claim_lease_s`), then is expired. Crash after C before D: the near-copies it
  beat were answered with its item id, which is never written; its claim is dropped after
  two leases. Crash after D: the item is stored; the claim is dropped after two leases.
- It relies on the claims being linearizable (each read sees every write acknowledged
  before it began) and on find() seeing every item written before it began: true of the
  embedded store (one process); for a Qdrant cluster it is what `ordering=strong` writes,
  majority reads and conditional updates give (remote_claims.py), and only a real cluster
  can show it (bench/replicas_check.py).
- Clocks: claims are aged by the reader's clock against the owner's; replicas' clocks must
  agree to well within the lease (NTP does).
- find() itself is unchanged: like one process, it judges only the few nearest stored items.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from imagesearch.dedup.detector import Duplicate, DuplicateDetector
from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.store.base import PointToStore, VectorStore
from imagesearch.store.claims import Claim, ClaimState

DEFAULT_LEASE_S = 10.0
# Waiting for a rival's claim: polls from 2 ms, doubling to 50 ms. A rival's check takes
# milliseconds (two store queries and the alignment of a few candidates), so most waits end
# at the first polls; a dead rival's claim costs at most a lease of 50 ms polls.
POLL_FIRST_S = 0.002
POLL_MAX_S = 0.05
LIVE = (ClaimState.PENDING, ClaimState.BEATEN)


@dataclass(frozen=True)
class _Rival:
    claim: Claim
    score: float


class _NextRound(Exception):
    """A round ended without a decision (someone moved meanwhile): read again."""


class ReplicaSafeCheck:
    """The duplicate check and write of one checked insert, correct across processes that
    share one store (the protocol above). Callers in one process still serialise their
    checks per collection (api/ingest.py), so each process holds at most one claim per
    collection and rounds rarely repeat."""

    def __init__(
        self,
        store: VectorStore,
        detector: DuplicateDetector,
        lease_s: float = DEFAULT_LEASE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not lease_s > 0:
            # A claim is stale after the lease: with none, every round would renew its claim.
            raise ValueError(f"duplicate_claim_lease_s must be positive (seconds), not {lease_s!r}")
        self._store = store
        self._detector = detector
        self._lease_s = lease_s
        self._clock = clock

    async def store_unless_duplicate(
        self, name: str, point: PointToStore, fp: Fingerprint, space: str, store_anyway: bool
    ) -> Duplicate | None:
        """Check `point` against the stored items and the inserts in flight; store it unless
        it duplicates one (or anyway, when `store_anyway`: ALLOW). Returns the duplicate."""
        collection = await self._store.resolve(name)
        # point.fingerprint is the payload already made for the item (its PNG thumbnail: 0.5 ms).
        claim = Claim.new(point.id, point.vectors[space], point.fingerprint or fp.to_payload(), self._clock())
        await self._store.put_claim(collection, claim)
        held = _Held(claim)
        try:
            claim, duplicate = await self._decide(collection, name, held, point, fp, space)
        except BaseException:
            await asyncio.shield(self._store.drop_claim(collection, held.claim.id))
            raise
        if duplicate is None or store_anyway:
            # Shielded: a cancelled call must not drop the claim before its item is written.
            await asyncio.shield(self._write(collection, name, point, claim, force=duplicate is not None))
            return duplicate
        await asyncio.shield(self._store.drop_claim(collection, claim.id))
        await self._await_written(collection, duplicate.id)
        return duplicate

    async def _decide(
        self, collection: str, name: str, held: "_Held", point: PointToStore, fp: Fingerprint, space: str
    ) -> tuple[Claim, Duplicate | None]:
        """Rounds until decided: (the claim as it now is, the duplicate or None: committed).
        `held.claim` follows the claim through renewals (the caller drops it on failure)."""
        delay = POLL_FIRST_S
        while True:
            try:
                return await self._round(collection, name, held.claim, point, fp, space)
            except _Wait as wait:
                held.claim = wait.claim
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_S)
            except _Restart as restart:
                held.claim = restart.claim
                await asyncio.sleep(0)  # let the rival that moved go on

    async def _round(
        self, collection: str, name: str, claim: Claim, point: PointToStore, fp: Fingerprint, space: str
    ) -> tuple[Claim, Duplicate | None]:
        others = {c.id: c for c in await self._store.claims(collection)}
        own = others.pop(claim.id, None)
        now = self._clock()
        if own is None or own.state is ClaimState.EXPIRED or now - own.created_at > self._lease_s:
            raise _Restart(await self._renew(collection, claim, own))
        others = await self._clean(collection, others, now)
        if own.state is ClaimState.BEATEN:
            return await self._after_beaten(collection, own, others)
        duplicate = await self._detector.find(name, point.vectors[space], fp, exclude_id=point.id, space=space)
        if duplicate is not None:
            return own, duplicate
        rivals = await self._rivals(own, fp, others.values(), now)
        committed = [r for r in rivals if r.claim.state is ClaimState.COMMITTED]
        if committed:
            return own, _duplicate_of(own, max(committed, key=lambda r: r.score))
        if any(r.claim.state in LIVE and r.claim.key < own.key for r in rivals):
            raise _Wait(own)
        for rival in rivals:
            if rival.claim.state is ClaimState.PENDING:
                beaten = await self._beat(collection, own, rival)
                if beaten is not None:
                    return own, beaten
        after = await self._store.transition_claim(collection, own.to(ClaimState.COMMITTED), ClaimState.PENDING)
        if after is None or after.state is not ClaimState.COMMITTED:
            raise _Restart(own)
        return after, None

    async def _renew(self, collection: str, claim: Claim, own: Claim | None) -> Claim:
        """A fresh claim for one that was expired, dropped, or is older than the lease."""
        if own is not None:
            await self._store.drop_claim(collection, own.id)
        fresh = Claim.new(claim.item_id, claim.vector, claim.fingerprint, self._clock())
        await self._store.put_claim(collection, fresh)
        return fresh

    async def _after_beaten(self, collection: str, own: Claim, others: dict[str, Claim]) -> tuple[Claim, Duplicate | None]:
        """A lower claim judged ours a copy: its outcome decides ours."""
        beater = others.get(own.beaten_by)
        if beater is not None and beater.state is ClaimState.COMMITTED:
            return own, _duplicate_of(own, _Rival(beater, own.beat_score))
        if beater is not None and beater.state in LIVE:
            raise _Wait(own)
        after = await self._store.transition_claim(collection, own.to(ClaimState.PENDING), ClaimState.BEATEN)
        raise _Restart(after or own)

    async def _beat(self, collection: str, own: Claim, rival: _Rival) -> Duplicate | None:
        """CAS a higher-keyed PENDING rival to BEATEN; the rival's duplicate if it committed
        first; _Restart if it is gone (it may have been written: find() must look again)."""
        beaten = rival.claim.to(ClaimState.BEATEN, own.id, rival.score)
        after = await self._store.transition_claim(collection, beaten, ClaimState.PENDING)
        if after is None or after.state is ClaimState.PENDING:
            raise _Restart(own)
        if after.state is ClaimState.COMMITTED:
            return _duplicate_of(own, rival)
        return None

    async def _rivals(self, own: Claim, fp: Fingerprint, others, now: float) -> list[_Rival]:
        """The other claims this insert's rule judges copies of its image."""
        rule = self._detector.rule
        candidates: list[tuple[Claim, float]] = []
        for other in others:
            if (
                other.item_id == own.item_id
                or other.state is ClaimState.EXPIRED
                or not other.fingerprint
                or other.vector.shape != own.vector.shape
            ):
                continue  # the same item (find() excludes it too), a dead claim, another model set's
            if other.sha256 == own.sha256:
                candidates.append((other, 1.0))
                continue
            similarity = float(np.dot(own.vector.astype(np.float64), other.vector.astype(np.float64)))
            if similarity >= rule.min_similarity:
                candidates.append((other, similarity))
        scores = await asyncio.gather(
            *(
                asyncio.to_thread(rule.score, fp, Fingerprint.from_payload(other.fingerprint), similarity)
                for other, similarity in candidates
            )
        )
        return [_Rival(other, score) for (other, _), score in zip(candidates, scores) if score >= rule.min_copy_score]

    async def _clean(self, collection: str, others: dict[str, Claim], now: float) -> dict[str, Claim]:
        """Expire claims past the lease (owners presumed dead) and drop those past two
        leases; returns the claims still to consider."""
        kept = {}
        for other in others.values():
            age = now - other.created_at
            if other.state in LIVE and age > self._lease_s:
                other = await self._store.transition_claim(collection, other.to(ClaimState.EXPIRED), other.state)
            elif age > 2 * self._lease_s:
                await self._store.drop_claim(collection, other.id)
                other = None
            if other is not None:
                kept[other.id] = other
        return kept

    async def _force_commit(self, collection: str, claim: Claim) -> Claim:
        """ALLOW stores a duplicate anyway: its claim says so while its item is written."""
        committed = claim.to(ClaimState.COMMITTED)
        if await self._store.transition_claim(collection, committed, None) is None:
            await self._store.put_claim(collection, committed)
        return committed

    async def _write(self, collection: str, name: str, point: PointToStore, claim: Claim, force: bool) -> None:
        """The item, then (only then) the claim's end: see the proof, case 3. `force`: an
        ALLOW insert that lost, stored anyway; its claim says so first."""
        try:
            if force:
                claim = await self._force_commit(collection, claim)
            await self._store.upsert(name, [point])
        finally:
            await self._store.drop_claim(collection, claim.id)

    async def _await_written(self, collection: str, item_id: str) -> None:
        """Until no COMMITTED claim of `item_id` is left (its item is written), a lease at most."""
        deadline = self._clock() + self._lease_s
        delay = POLL_FIRST_S
        while self._clock() < deadline:
            claims = await self._store.claims(collection)
            if not any(c.item_id == item_id and c.state is ClaimState.COMMITTED for c in claims):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)


@dataclass
class _Held:
    claim: Claim


class _Wait(_NextRound):
    def __init__(self, claim: Claim) -> None:
        super().__init__()
        self.claim = claim


class _Restart(_NextRound):
    def __init__(self, claim: Claim) -> None:
        super().__init__()
        self.claim = claim


def _duplicate_of(own: Claim, rival: _Rival) -> Duplicate:
    exact = bool(own.sha256) and own.sha256 == rival.claim.sha256
    return Duplicate(id=rival.claim.item_id, exact=exact, score=1.0 if exact else rival.score)

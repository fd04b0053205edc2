"""Finds what a new image duplicates, and the groups of duplicates in a whole collection,
through the vector store (exact: a SHA-256 payload index; near: vector neighbours)."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import AsyncIterator

import numpy as np

from imagesearch.decode_pool import DecodePool
from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.dedup.turnhash import TurnHashIndex, lookup_condition
from imagesearch.store.base import ScoredHit, StoredPoint, VectorStore
from imagesearch.store.points import SHA256_PATH
from imagesearch.store.filters import Filter, Match

SCAN_PAGE = 256
SCAN_CONCURRENCY = 8
# Stored items' decoded fingerprints kept for the next insert that meets them as candidates:
# a few images are near many others, and decoding and preparing one costs 0.8 ms (PNG 0.3,
# alignment levels 0.5). About 55 KB each: 64 bound the cache near 3.5 MB (256 would be 14 MB,
# 7 % of an idle API server's RSS, which a soak would count as growth until it fills).
FINGERPRINT_CACHE = 64


class _FingerprintCache:
    """Decoded stored fingerprints by their payload's thumbnail (content, so never stale);
    least recently used out first. Used from the decode pool's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, Fingerprint] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, payload: dict) -> Fingerprint:
        key = payload["thumb"]
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        decoded = Fingerprint.from_payload(payload)
        decoded.alignable  # noqa: B018 - prepared once, outside the lock
        with self._lock:
            self._entries[key] = decoded
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return decoded


@dataclass(frozen=True)
class Duplicate:
    """A stored item an image duplicates."""

    id: str
    exact: bool
    score: float


@dataclass(frozen=True)
class DuplicatePair:
    """Two stored items judged copies of one image."""

    a: str
    b: str
    score: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Items linked (transitively) by duplicate pairs; ids sorted."""

    ids: tuple[str, ...]
    pairs: tuple[DuplicatePair, ...]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            self.parent[root] = self.parent[self.parent[root]]  # path halving
            root = self.parent[root]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class DuplicateDetector:
    """Duplicate checks against one store, by `rule`."""

    def __init__(
        self, store: VectorStore, rule: NearDuplicateRule = NearDuplicateRule(), pool: DecodePool | None = None
    ) -> None:
        self._store = store
        self.rule = rule
        # Where thumbnails are decoded and aligned (the server's bounded decode pool); None:
        # asyncio's default executor.
        self._pool = pool
        self._stored = _FingerprintCache(FINGERPRINT_CACHE)

    async def _in_pool(self, function, *args):
        if self._pool is None:
            return await asyncio.to_thread(function, *args)
        return await self._pool.run(function, *args)

    async def find(
        self, name: str, vector: np.ndarray, fingerprint: Fingerprint, exclude_id: str, space: str | None = None
    ) -> Duplicate | None:
        """The stored item (other than `exclude_id`) the image duplicates, exact first.

        `vector` is the image's vector in `space`, the collection's image-similarity space
        (None: its first space)."""
        # One filtered query serves the exact lookup and the turn-hash one (turned and
        # mirrored copies, turnhash.py): the same bytes have the same vector, so an exact
        # copy ranks first among the few items either index matches.
        same_bytes_or_turned = Filter(
            should=(Match(SHA256_PATH, fingerprint.sha256), lookup_condition(fingerprint.turn_hashes))
        )
        indexed = [
            hit
            for hit in await self._store.search(
                name, vector, self.rule.turn_candidates + 2, -1.0, space=space, flt=same_bytes_or_turned,
                with_fingerprint=True,
            )
            if hit.id != exclude_id and hit.fingerprint
        ]
        for hit in indexed:
            if hit.fingerprint.get("sha256") == fingerprint.sha256:
                return Duplicate(id=hit.id, exact=True, score=1.0)
        by_turn = indexed[: self.rule.turn_candidates]
        candidates = [
            hit
            for hit in await self._store.search(
                name, vector, self.rule.neighbours + 1, self.rule.min_similarity, space=space, with_fingerprint=True
            )
            if hit.id != exclude_id and hit.fingerprint
        ][: self.rule.neighbours]
        if not candidates and not by_turn:
            return None
        # One trip to the pool for all candidates: a thread hop per candidate cost more than
        # a rejected candidate's coarse alignment.
        scores = await self._in_pool(self._scores, fingerprint, candidates, by_turn)
        best = max(zip(scores, [*candidates, *by_turn]), key=lambda pair: pair[0], default=None)
        if best is None or best[0] < self.rule.min_copy_score:
            return None
        return Duplicate(id=best[1].id, exact=False, score=best[0])

    def _scores(self, fingerprint: Fingerprint, candidates: list[ScoredHit], by_turn: list[ScoredHit]) -> list[float]:
        """The rule's score of each embedding candidate, then of each turn-hash candidate
        (an item in both is aligned upright first; turned only if that fails)."""
        scores = [self.rule.score(fingerprint, self._stored.get(hit.fingerprint), hit.score) for hit in candidates]
        upright = dict(zip((hit.id for hit in candidates), scores))
        for hit in by_turn:
            if upright.get(hit.id, 0.0) >= self.rule.min_copy_score:
                scores.append(upright[hit.id])
            else:
                scores.append(self.rule.turned_score(fingerprint, self._stored.get(hit.fingerprint)))
        return scores

    def _pair_score(
        self, a: Fingerprint, b: Fingerprint, similarity: float | None, turned: bool, threshold: float
    ) -> float:
        """A candidate pair's rule score: upright when the embedding proposed it, turned when
        the turn hash did and the upright alignment fell short."""
        score = 0.0 if similarity is None else self.rule.score(a, b, similarity, threshold)
        if turned and score < threshold:
            score = max(score, self.rule.turned_score(a, b, threshold))
        return score

    async def groups(
        self, name: str, threshold: float | None = None, space: str | None = None
    ) -> list[DuplicateGroup]:
        """Every group of duplicates in the collection, largest first (see iter_groups)."""
        found = [group async for group in self.iter_groups(name, threshold, space)]
        return sorted(found, key=lambda g: (-len(g.ids), g.ids))

    async def iter_groups(
        self, name: str, threshold: float | None = None, space: str | None = None
    ) -> AsyncIterator[DuplicateGroup]:
        """The groups of duplicates in the collection, each yielded as soon as it is
        complete, judged in `space` (the image-similarity space; None: the first space).

        Two passes. The first links each item to its `rule.neighbours` nearest neighbours
        above rule.min_similarity (vector queries only: cheap) and to the items whose turn
        hash is near one of its orientations (turnhash.TurnHashIndex, in memory: turned
        and mirrored copies), which splits the collection into candidate components; every
        pair the rule could accept lies inside one. The second judges the pairs of one
        component at a time (the thumbnail alignment: the expensive part) and yields its
        groups at once: no later item can join them. The work grows linearly with the
        collection, not quadratically (the turn-hash index holds four integers per item).
        """
        threshold = self.rule.min_copy_score if threshold is None else threshold
        candidates, turned = await self._candidate_pairs(name, space)
        components = _UnionFind()
        for a, b in (*candidates, *turned):
            components.union(a, b)
        members: dict[str, list[str]] = {}
        for item in components.parent:
            members.setdefault(components.find(item), []).append(item)
        by_root: dict[str, list[tuple[str, str]]] = {}
        for pair in {*candidates, *turned}:
            by_root.setdefault(components.find(pair[0]), []).append(pair)
        for root, ids in members.items():
            judged = sorted(by_root[root])
            for group in await self._judge_component(name, ids, judged, candidates, turned, threshold):
                yield group

    async def _candidate_pairs(
        self, name: str, space: str | None
    ) -> tuple[dict[tuple[str, str], float], set[tuple[str, str]]]:
        """Pass 1: each item's nearest neighbours, as pairs with their cosine; and the pairs
        whose turn hashes are near (turned or mirrored copies)."""
        pairs: dict[tuple[str, str], float] = {}
        turned: set[tuple[str, str]] = set()
        index = TurnHashIndex(self.rule.max_turn_hash_distance, self.rule.turn_candidates)
        slots = asyncio.Semaphore(SCAN_CONCURRENCY)

        async def neighbours(point: StoredPoint) -> None:
            async with slots:
                hits = await self._store.search(
                    name, _vector(point, space), self.rule.neighbours + 1, self.rule.min_similarity, space=space
                )
            for hit in hits:
                if hit.id != point.id:
                    pairs[_key(point.id, hit.id)] = hit.score

        offset: str | None = None
        while True:
            page, offset = await self._store.scroll(name, offset, SCAN_PAGE)
            await asyncio.gather(*(neighbours(p) for p in page if _vector(p, space) is not None))
            for point_id, hashes in await self._in_pool(_turn_hashes, page):
                turned.update(_key(point_id, other) for other in index.add(point_id, hashes))
            if offset is None:
                return pairs, turned

    async def _judge_component(
        self,
        name: str,
        ids: list[str],
        component_pairs: list[tuple[str, str]],
        similarities: dict[tuple[str, str], float],
        turned: set[tuple[str, str]],
        threshold: float,
    ) -> list[DuplicateGroup]:
        """Pass 2 for one candidate component: the duplicate groups inside it."""
        fingerprints = {
            p.id: Fingerprint.from_payload(p.fingerprint)
            for p in await self._store.get(name, ids, with_vectors=True)
            if p.fingerprint
        }
        judged = [pair for pair in component_pairs if pair[0] in fingerprints and pair[1] in fingerprints]
        scores = await asyncio.gather(
            *(
                self._in_pool(
                    self._pair_score, fingerprints[a], fingerprints[b], similarities.get((a, b)), (a, b) in turned,
                    threshold,
                )
                for a, b in judged
            )
        )
        links = _UnionFind()
        linked = {}
        for pair, score in zip(judged, scores):
            if score >= threshold:
                links.union(*pair)
                linked[pair] = score
        groups: dict[str, list[str]] = {}
        for item in links.parent:
            groups.setdefault(links.find(item), []).append(item)
        result = []
        for members in groups.values():
            inside = set(members)
            pairs = tuple(DuplicatePair(a, b, s) for (a, b), s in sorted(linked.items()) if a in inside)
            result.append(DuplicateGroup(tuple(sorted(members)), pairs))
        return result


def _turn_hashes(page: list[StoredPoint]) -> list[tuple[str, dict]]:
    """The eight-orientation hashes of a page's items that have a fingerprint."""
    return [(p.id, Fingerprint.from_payload(p.fingerprint).turn_hashes) for p in page if p.fingerprint]


def _vector(point: StoredPoint, space: str | None) -> np.ndarray | None:
    """The point's vector in `space` (None: its only or first one)."""
    if not point.vectors:
        return None
    if space is None:
        return next(iter(point.vectors.values()))
    return point.vectors.get(space)


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)

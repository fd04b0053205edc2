"""The insert-time duplicate check across API replicas sharing one store (dedup/replicas.py).

Two server instances (two ServiceContexts and Ingestors, each with its own per-process lock)
over ONE store object stand for two replicas on one Qdrant: no Qdrant server can run here, and
the embedded engine locks its directory, so two processes cannot share a store. This is
faithful to the protocol, which talks to the other replica only through the store's claims and
items; what it cannot show (a cluster's ordering and consistency) is checked by
bench/replicas_check.py against a real Qdrant.

The interleavings are forced: every store call of the claim protocol (claims, items, vector
queries) first waits for its instance's turn in a schedule, so each bit string of A/B turns is
one interleaving of the two instances' steps. That fakes the scheduling, not the store: the
calls go to the real embedded store (and, in one test, to qdrant-client's local mode, the
remote store's code).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason
from PIL import Image
from qdrant_client import AsyncQdrantClient

from api_fakes import FakeFetcher, FakeImageEncoder, FakeNsfw, image_vector, served_offline
from imagesearch.api.context import ServiceContext, ServiceLimits
from imagesearch.api import ingest
from imagesearch.api.errors import ApiError
from imagesearch.api.ingest import Ingestor
from imagesearch.dedup import replicas
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.store.base import ModerationPolicy
from imagesearch.store.claims import Claim, ClaimState
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact", "ignore:Payload indexes have no effect")

COLLECTION = "race"
GATED = {"put_claim", "claims", "transition_claim", "drop_claim", "search", "upsert"}
SKIP, REJECT, ALLOW = pb.DUPLICATE_POLICY_SKIP, pb.DUPLICATE_POLICY_REJECT, pb.DUPLICATE_POLICY_ALLOW


def _photo() -> Image.Image:
    """A textured image (seeded), so that re-encodings of it are near-copies by the rule."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((256, 192), Image.BILINEAR)


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


PNG = _encode(_photo(), "PNG")
JPEG_90 = _encode(_photo(), "JPEG", quality=90)
JPEG_70 = _encode(_photo(), "JPEG", quality=70)


class Scheduler:
    """Lets one instance at a time past a gate, in the order of `turns` ("A"/"B"); once the
    turns are used up (or the named instance finished), everyone runs freely."""

    def __init__(self, turns: str) -> None:
        self.turns = list(turns)
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.done: set[str] = set()

    async def gate(self, who: str) -> None:
        if not self.turns:
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting[who] = future
        self._dispatch()
        await future

    def finish(self, who: str) -> None:
        self.done.add(who)
        self._dispatch()

    def _dispatch(self) -> None:
        while self.turns:
            nxt = self.turns[0]
            if nxt in self.waiting:
                self.turns.pop(0)
                self.waiting.pop(nxt).set_result(None)
                if self.turns:
                    return
                break
            if nxt not in self.done:
                return  # it is running: its next gate (or its end) dispatches again
            self.turns.pop(0)
        for future in self.waiting.values():
            future.set_result(None)
        self.waiting.clear()


class GatedStore:
    """The real store; each protocol step of instance `who` waits for its turn first."""

    def __init__(self, store: Any, who: str, scheduler: Scheduler) -> None:
        self._store, self._who, self._scheduler = store, who, scheduler

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name not in GATED:
            return method

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await self._scheduler.gate(self._who)
            return await method(*args, **kwargs)

        return gated


def _instance(store: Any, lease_s: float = 10.0) -> Ingestor:
    ctx = ServiceContext(
        store=store,
        model_sets={"offline": served_offline(FakeImageEncoder())},
        default_model_set="offline",
        limits=ServiceLimits(max_image_pixels=40_000_000, insert_concurrency=4, duplicate_claim_lease_s=lease_s),
        fetcher=FakeFetcher(),
        nsfw=FakeNsfw(),
    )
    return Ingestor(ctx)


@dataclass(frozen=True)
class Answer:
    item_id: str  # the item answered (the existing one when skipped)
    skipped: bool
    duplicate: str | None
    rejected: bool = False


async def _insert(ingestor: Ingestor, item_id: str, image: bytes, policy: int) -> Answer:
    request = pb.CreateItemRequest(
        parent=f"collections/{COLLECTION}", item_id=item_id, image=pb.Image(content=image), duplicate_policy=policy
    )
    try:
        item = await ingestor.create(request)
    except ApiError as error:
        assert error.reason == ErrorReason.DUPLICATE_IMAGE, error
        return Answer(item_id, skipped=False, duplicate=error.metadata["item"], rejected=True)
    duplicate = item.duplicate.item.rsplit("/", 1)[-1] if item.HasField("duplicate") else None
    return Answer(item.name.rsplit("/", 1)[-1], item.duplicate.skipped, duplicate)


async def _race(store: Any, turns: str, inserts: list[tuple[str, bytes, int]]) -> list[Answer]:
    """Two instances, one insert each, their store steps interleaved as `turns` says."""
    scheduler = Scheduler(turns)
    names = "AB"

    async def run(k: int) -> Answer:
        try:
            return await _insert(_instance(GatedStore(store, names[k], scheduler)), *inserts[k])
        finally:
            scheduler.finish(names[k])

    return list(await asyncio.wait_for(asyncio.gather(run(0), run(1)), timeout=20))


async def _stored(store: Any) -> list[str]:
    page, _ = await store.scroll(COLLECTION, None, 100, with_vectors=False)
    return sorted(p.id for p in page)


async def _reset(store: Any) -> None:
    await store.delete(COLLECTION, await _stored(store))
    assert await store.claims(COLLECTION) == [], "a settled insert left its claim behind"


def _serial_outcomes(first: tuple[str, int], second: tuple[str, int]) -> tuple[set[str], dict[str, str | None]]:
    """What one process answers for two mutual copies inserted one after the other:
    (the ids stored, each insert's reported duplicate)."""
    (a, _), (b, policy_b) = first, second
    stored = {a} | ({b} if policy_b == ALLOW else set())
    return stored, {a: None, b: a}


def _check(answers: list[Answer], stored: list[str], inserts: list[tuple[str, bytes, int]]) -> None:
    """The outcome is what one process gives in one of the two orders."""
    got = {ins[0]: ans.duplicate for ins, ans in zip(inserts, answers)}
    orders = [
        _serial_outcomes((inserts[0][0], inserts[0][2]), (inserts[1][0], inserts[1][2])),
        _serial_outcomes((inserts[1][0], inserts[1][2]), (inserts[0][0], inserts[0][2])),
    ]
    assert (set(stored), got) in orders, f"stored {stored}, answers {answers}: no serial order gives this"
    for ins, ans in zip(inserts, answers):
        if ans.skipped:
            assert ans.item_id == ans.duplicate and ans.item_id in stored  # the existing item, which exists
        if ans.rejected:
            assert ans.duplicate in stored


@pytest.fixture(autouse=True)
def analyse_once(monkeypatch):
    """The three images' fingerprints and fake vectors, computed once (the race is in the
    check, not in the analysis; this keeps each of the ~800 races at a few milliseconds)."""
    fingerprints = {image: fingerprint(image) for image in (PNG, JPEG_90, JPEG_70)}
    vectors = {image: image_vector(image) for image in (PNG, JPEG_90, JPEG_70)}
    monkeypatch.setattr(ingest, "fingerprint", lambda image: fingerprints.get(image) or fingerprint(image))

    async def embed_outputs(self, image: bytes, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        vector = vectors[image] if image in vectors else image_vector(image)
        return {output: vector for output in outputs}

    monkeypatch.setattr(FakeImageEncoder, "embed_outputs", embed_outputs)


@pytest.fixture
async def edge(tmp_path):
    store = EdgeStore(tmp_path / "data")
    await store.create_collection(COLLECTION, served_offline(FakeImageEncoder()).record, ModerationPolicy(scoring=False))
    yield store
    await store.close()


def test_the_copies_are_copies_by_the_rule() -> None:
    from imagesearch.dedup.rule import NearDuplicateRule

    rule, fps = NearDuplicateRule(), [fingerprint(x) for x in (PNG, JPEG_90, JPEG_70)]
    assert len({fp.sha256 for fp in fps}) == 3
    assert all(rule.is_copy(a, b, 0.99) for a, b in itertools.combinations(fps, 2))




def _schedules(prefix: int = 6, length: int = 14, switches: int = 2) -> list[str]:
    """Turn sequences: every one of `prefix` turns, and every one of `length` turns (about two
    inserts' gated steps) that switches instance at most `switches` times (races need few
    switches, at the right places: one instance running several steps between two of the
    other's). About 250."""
    every = {"".join(bits) for bits in itertools.product("AB", repeat=prefix)}
    for first, cuts in itertools.product("AB", itertools.chain.from_iterable(
        itertools.combinations(range(1, length), k) for k in range(switches + 1)
    )):
        turns, who, last = [], first, 0
        for cut in (*cuts, length):
            turns.append(who * (cut - last))
            who, last = ("B" if who == "A" else "A"), cut
        every.add("".join(turns))
    return sorted(every)


SCHEDULES = _schedules()
SCENARIOS = {
    "near copies, SKIP and SKIP": [("a", PNG, SKIP), ("b", JPEG_90, SKIP)],
    "same bytes, REJECT and SKIP": [("a", PNG, REJECT), ("b", PNG, SKIP)],
    "near copies, ALLOW and SKIP": [("a", JPEG_70, ALLOW), ("b", PNG, SKIP)],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_interleaving_of_two_replicas_answers_as_one_process(edge, scenario) -> None:
    inserts = SCENARIOS[scenario]
    # All schedules for the main case, every third for the others (CI time: ~3 s each).
    for turns in SCHEDULES if scenario == "near copies, SKIP and SKIP" else SCHEDULES[::3]:
        answers = await _race(edge, turns, inserts)
        _check(answers, await _stored(edge), inserts)
        await _reset(edge)


async def test_the_same_item_id_from_two_replicas_is_one_item(edge) -> None:
    # A client retrying one request through another replica: one item, no duplicate reported,
    # as one process answers (the check excludes the item's own id).
    for turns in SCHEDULES[::17]:
        answers = await _race(edge, turns, [("x", PNG, SKIP), ("x", JPEG_90, SKIP)])
        assert await _stored(edge) == ["x"] and all(a.duplicate is None for a in answers)
        await _reset(edge)


class _Prefetched:
    """A detector whose find() answers what was looked up before the round's claims read."""

    def __init__(self, detector: Any) -> None:
        self.detector, self.rule, self.found = detector, detector.rule, None

    async def find(self, *args: Any, **kwargs: Any) -> Any:
        return self.found


def _without_claims(monkeypatch) -> None:
    async def check_then_write(self, name, point, fp, space, store_anyway):
        duplicate = await self._detector.find(name, point.vectors[space], fp, exclude_id=point.id, space=space)
        if duplicate is None or store_anyway:
            await self._store.upsert(name, [point])
        return duplicate

    monkeypatch.setattr(replicas.ReplicaSafeCheck, "store_unless_duplicate", check_then_write)


def _without_beating(monkeypatch) -> None:
    async def no_beat(self, collection, own, rival):
        return None

    monkeypatch.setattr(replicas.ReplicaSafeCheck, "_beat", no_beat)


def _dropping_before_writing(monkeypatch) -> None:
    async def drop_then_write(self, collection, name, point, claim, force):
        await self._store.drop_claim(collection, claim.id)
        await self._store.upsert(name, [point])

    monkeypatch.setattr(replicas.ReplicaSafeCheck, "_write", drop_then_write)


def _finding_before_reading_claims(monkeypatch) -> None:
    real_round = replicas.ReplicaSafeCheck._round

    async def find_first(self, collection, name, claim, point, fp, space):
        if not isinstance(self._detector, _Prefetched):
            self._detector = _Prefetched(self._detector)
        self._detector.found = await self._detector.detector.find(
            name, point.vectors[space], fp, exclude_id=point.id, space=space
        )
        return await real_round(self, collection, name, claim, point, fp, space)

    monkeypatch.setattr(replicas.ReplicaSafeCheck, "_round", find_first)


@pytest.mark.parametrize(
    "broken", [_without_claims, _without_beating, _dropping_before_writing, _finding_before_reading_claims]
)
async def test_the_schedules_catch_each_step_the_proof_needs(edge, monkeypatch, broken) -> None:
    """The harness can fail: without claims (the pre-replica check: find, then write), or
    with any one step of the protocol removed or reordered (dedup/replicas.py's proof says
    each is needed), some interleaving stores both copies."""
    broken(monkeypatch)
    inserts = SCENARIOS["near copies, SKIP and SKIP"]
    for turns in SCHEDULES:
        await _race(edge, turns, inserts)
        stored = await _stored(edge)
        await edge.delete(COLLECTION, stored)
        for claim in await edge.claims(COLLECTION):
            await edge.drop_claim(COLLECTION, claim.id)
        if len(stored) == 2:
            return
    pytest.fail("no interleaving stored both copies")


async def test_three_replicas_with_random_delays_store_one_of_three_copies(edge) -> None:
    rng = np.random.default_rng(11)

    class Jittery(GatedStore):
        def __getattr__(self, name: str) -> Any:
            method = getattr(self._store, name)
            if name not in GATED:
                return method

            async def delayed(*args: Any, **kwargs: Any) -> Any:
                await asyncio.sleep(float(rng.uniform(0, 0.002)))
                return await method(*args, **kwargs)

            return delayed

    copies = [("a", PNG, SKIP), ("b", JPEG_90, SKIP), ("c", JPEG_70, REJECT)]
    for _ in range(15):
        instances = [_instance(Jittery(edge, str(k), Scheduler(""))) for k in range(3)]
        answers = await asyncio.gather(*(_insert(i, *c) for i, c in zip(instances, copies)))
        stored = await _stored(edge)
        assert len(stored) == 1, answers
        assert all(a.duplicate == stored[0] for a in answers if a.item_id != stored[0] or a.skipped)
        await _reset(edge)


async def test_a_dead_replicas_pending_claim_blocks_its_copies_for_one_lease(edge) -> None:
    lease = 0.3
    fp = fingerprint(JPEG_90)
    vector = image_vector(JPEG_90)
    dead = Claim.new("dead", vector, fp.to_payload())
    await edge.put_claim(COLLECTION, dead)  # its replica was killed before deciding
    started = time.monotonic()
    answer = await _insert(_instance(edge, lease_s=lease), "live", PNG, SKIP)
    assert time.monotonic() - started >= lease * 0.9
    assert answer == Answer("live", skipped=False, duplicate=None)
    assert await _stored(edge) == ["live"]
    assert [c.state for c in await edge.claims(COLLECTION)] == [ClaimState.EXPIRED]


async def test_a_claim_committed_by_a_dead_replica_is_dropped_after_two_leases(edge) -> None:
    lease = 0.2
    fp = fingerprint(JPEG_90)
    dead = Claim.new("dead", image_vector(JPEG_90), fp.to_payload()).to(ClaimState.COMMITTED)
    await edge.put_claim(COLLECTION, dead)  # killed between its commit and its write
    ingestor = _instance(edge, lease_s=lease)
    # Documented: its copies are answered with its item id, which was never written.
    assert (await _insert(ingestor, "live", PNG, SKIP)).duplicate == "dead"
    await asyncio.sleep(2 * lease)
    assert await _insert(ingestor, "live", PNG, SKIP) == Answer("live", skipped=False, duplicate=None)
    assert await edge.claims(COLLECTION) == []


async def test_a_claim_from_another_model_set_is_not_a_rival(edge) -> None:
    # Left by a replica inserting into an earlier collection of the same name.
    stale = Claim.new("old", np.ones(8, dtype=np.float32) / np.sqrt(8), fingerprint(JPEG_90).to_payload())
    await edge.put_claim(COLLECTION, stale)
    assert await _insert(_instance(edge), "new", PNG, SKIP) == Answer("new", skipped=False, duplicate=None)


async def test_a_cancelled_insert_leaves_no_claim(edge) -> None:
    ingestor = _instance(edge)
    task = asyncio.ensure_future(_insert(ingestor, "gone", PNG, SKIP))
    while not await edge.claims(COLLECTION):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await edge.claims(COLLECTION) == []


async def test_the_remote_store_interleavings(tmp_path) -> None:
    """The same races over the remote store's code (qdrant-client local mode: its claims in
    a Qdrant collection, the conditional update as compare-and-set)."""
    client = AsyncQdrantClient(location=":memory:")
    store = RemoteQdrantStore(None, client=client)
    await store.create_collection(COLLECTION, served_offline(FakeImageEncoder()).record, ModerationPolicy(scoring=False))
    inserts = SCENARIOS["near copies, SKIP and SKIP"]
    try:
        for turns in SCHEDULES[::8]:
            answers = await _race(store, turns, inserts)
            _check(answers, await _stored(store), inserts)
            await _reset(store)
        assert [c.name for c in await store.list_collections()] == [COLLECTION]  # the claims stay hidden
    finally:
        await client.close()



async def test_the_two_process_script_runs_its_rounds(tmp_path, capsys) -> None:
    """bench/replicas_check.py's rounds and checks, against one in-process server given as both
    of its addresses (its two-process use needs a Qdrant server: docs/deploy.md)."""
    from api_fakes import start_fake_server
    from bench import replicas_check

    server = await start_fake_server(tmp_path / "data")
    try:
        args = ["--address-a", server.address, "--address-b", server.address, "--rounds", "3", "--copies", "4"]
        assert await asyncio.to_thread(replicas_check.main, args) == 0
    finally:
        await server.stop()
    assert "3 rounds, 12 inserts through 2 servers" in capsys.readouterr().out
    assert replicas_check.Tally(stored_twice=1).violations == 1


def test_the_lease_must_be_positive(edge) -> None:
    with pytest.raises(ValueError, match="duplicate_claim_lease_s must be positive"):
        _instance(edge, lease_s=0)

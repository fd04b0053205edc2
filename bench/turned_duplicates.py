"""Turned and mirrored copies at insert (dedup/turnhash.py) on Corel-1K, in-process.

    PYTHONPATH=server:clients/python python -m bench.turned_duplicates

The insert check as served (dedup/detector.py's find), with the store's two queries done in
memory: the exact-bytes-or-turn-hash query (items sharing a hash chunk with one of the
image's eight orientations, `turn_candidates` nearest by cosine) and the embedding query
(`neighbours` nearest with cosine >= min_similarity); each candidate judged by the rule
(turned_score for the turn-hash ones the upright rule does not accept). With the served
ONNX image model and fingerprint code. Prints, with the turn hash and without it (the rule
before):

- bench/calibrate.py's held-out edited copies (classes 1, 3, 5, 7, 9; seed 15; 94 rotated
  among 250), each inserted into the 1,000 originals: flagged as a copy of its original,
  per recipe;
- bench/duplicates.py's 300 copies (the set the rule was tuned on): recall;
- the 1,000 originals, each checked against the 999 others: falsely flagged;
- the added CPU per insert (the eight hashes and chunks; the turned alignments).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from bench.calibrate import HELD_OUT_CLASSES, queries
from bench.common import COREL_SIZE, machine_info, print_machine
from bench.duplicates import _embedder, corel_bytes, transformed_copies


class Inserts:
    """The 1,000 originals as a store, and the insert check against them."""

    def __init__(self, vectors: np.ndarray, fps: list, rule) -> None:
        from imagesearch.dedup import turnhash

        self.vectors, self.fps, self.rule = vectors, fps, rule
        self.by_chunk: dict[int, set[int]] = defaultdict(set)
        for i, fp in enumerate(fps):
            for value in turnhash.chunks(fp.turn_hashes[turnhash.UPRIGHT]):
                self.by_chunk[value].add(i)
        self.turned_ms: list[float] = []

    def check(self, vector: np.ndarray, fp, skip: int | None, turned: bool) -> tuple[int | None, float]:
        """(the original flagged, its score) or (None, best score)."""
        from imagesearch.dedup import turnhash

        cos = self.vectors @ vector
        if skip is not None:
            cos[skip] = -2
        exact = [j for j in range(COREL_SIZE) if j != skip and self.fps[j].sha256 == fp.sha256]
        if exact:
            return exact[0], 1.0
        order = [j for j in np.argsort(-cos)[: self.rule.neighbours] if cos[j] >= self.rule.min_similarity]
        scored = {j: self.rule.score(fp, self.fps[j], float(cos[j])) for j in order}
        if turned:
            started = time.perf_counter()
            matched = set().union(*(self.by_chunk.get(v, set()) for v in turnhash.lookup_values(fp.turn_hashes)))
            matched.discard(skip)
            for j in sorted(matched, key=lambda j: -cos[j])[: self.rule.turn_candidates]:
                if scored.get(j, 0.0) < self.rule.min_copy_score:
                    scored[j] = max(scored.get(j, 0.0), self.rule.turned_score(fp, self.fps[j]))
            self.turned_ms.append((time.perf_counter() - started) * 1000)
        best = max(scored.items(), key=lambda item: item[1], default=(None, 0.0))
        return (best[0], best[1]) if best[1] >= self.rule.min_copy_score else (None, best[1])


def main() -> None:
    from imagesearch.dedup import turnhash
    from imagesearch.dedup.fingerprint import fingerprint
    from imagesearch.dedup.rule import NearDuplicateRule

    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.turned_duplicates")
    rule = NearDuplicateRule()
    embed = _embedder()
    originals = [corel_bytes(i) for i in range(COREL_SIZE)]
    o_fp = [fingerprint(b) for b in originals]
    started = time.perf_counter()
    for fp in o_fp:
        turnhash.chunks(turnhash.turn_hashes(fp.thumb)[turnhash.UPRIGHT])
    hash_ms = (time.perf_counter() - started) / COREL_SIZE * 1000
    o_vec = np.stack([embed(b) for b in originals])
    store = Inserts(o_vec, o_fp, rule)
    copies = [q for q in queries()[0] if q.original // 100 in HELD_OUT_CLASSES]
    tuned = transformed_copies()
    sets = {"held-out copies (calibrate)": copies, "tuned copies (duplicates)": tuned}
    looked_at = {id(q): (embed(q.data), fingerprint(q.data)) for group in sets.values() for q in group}
    for turned in (False, True):
        print(f"\n== {'with' if turned else 'without'} the turn hash ==")
        for label, group in sets.items():
            per_recipe: dict[str, list[bool]] = defaultdict(list)
            for q in group:
                vector, fp = looked_at[id(q)]
                found, _ = store.check(vector, fp, None, turned)
                per_recipe[q.recipe].append(found == q.original)
            hits = [x for v in per_recipe.values() for x in v]
            print(f"{label}: {sum(hits)}/{len(hits)} = {np.mean(hits):.4f} flagged as a copy of their original")
            for recipe in sorted(per_recipe):
                if "rot" in recipe or turned is False or np.mean(per_recipe[recipe]) < 1:
                    print(f"    {recipe:34s} {sum(per_recipe[recipe])}/{len(per_recipe[recipe])}")
        flags = [store.check(o_vec[i], o_fp[i], i, turned) for i in range(COREL_SIZE)]
        flagged = [(i, j) for i, (j, _) in enumerate(flags) if j is not None]
        print(f"originals falsely flagged: {len(flagged)}/{COREL_SIZE} = {len(flagged) / COREL_SIZE:.4f} {flagged[:12]}")
    ms = np.array(store.turned_ms)
    print(f"\nadded CPU per insert: eight hashes + chunks {hash_ms:.2f} ms; turn-hash candidates judged "
          f"median {np.median(ms):.2f} ms, 95 % {np.quantile(ms, 0.95):.2f} ms, max {ms.max():.1f} ms "
          f"(over {len(ms)} checks)")


if __name__ == "__main__":
    main()

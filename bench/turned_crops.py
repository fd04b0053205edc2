"""Turned and cropped copies (a quarter turn and a 70-90 % crop): why neither the insert
check nor FindDuplicates groups them, and what judging embedding neighbours in every turn
would find and cost. In-process, the served fingerprint and alignment code, the vectors
cached by bench/calibrate.py (run it first).

    PYTHONPATH=server:clients/python python -m bench.turned_crops

Prints, for bench/calibrate.py's held-out rotated copies (classes 1, 3, 5, 7, 9; seed 15):
- the turn-hash distance (nearest orientation) of each cropped one to its original and
  that original's rank among the 1,000 by it, next to the originals' nearest other
  original (a larger hash distance cannot separate them);
- whether the pair is an embedding-neighbour candidate (the rule's `neighbours` nearest,
  cosine >= min_similarity, either way), and whether the alignment in all four turns
  accepts it;
- over the originals' own neighbour pairs that the upright rule rejects: how many the
  all-turn alignment would flag (false copies), and its CPU per pair.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from bench.calibrate import DEFAULT_CACHE, HELD_OUT_CLASSES, queries
from bench.common import COREL_SIZE, machine_info, print_machine
from bench.duplicates import corel_bytes


def main() -> None:
    from imagesearch.dedup.fingerprint import fingerprint
    from imagesearch.dedup.rule import NearDuplicateRule
    from imagesearch.dedup.turnhash import ORIENTATIONS, UPRIGHT, closest
    from imagesearch.dedup.verify import AlignableThumb, copy_score

    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.turned_crops")
    rule = NearDuplicateRule()
    cached = np.load(DEFAULT_CACHE)
    originals, copy_vectors = cached["originals"], cached["copies"][:, 0]
    o_fp = [fingerprint(corel_bytes(i)) for i in range(COREL_SIZE)]
    upright = [f.turn_hashes[UPRIGHT] for f in o_fp]
    turns = [o for o in ORIENTATIONS if o.turns and not o.mirrored]  # the alignment tries mirrors
    cpu: list[float] = []

    def all_turns(a, b) -> float:
        started = time.process_time()
        best = max(copy_score(AlignableThumb.of(o.apply(a.thumb)), b.alignable, rule.min_copy_score) for o in turns)
        cpu.append(time.process_time() - started)
        return best

    rows = defaultdict(list)
    for k, q in enumerate(queries()[0]):
        if q.original // 100 not in HELD_OUT_CLASSES or "rot" not in q.recipe:
            continue
        fp = fingerprint(q.data)
        cos = originals @ copy_vectors[k]
        own = originals @ originals[q.original]
        own[q.original] = -2
        candidate = cos[q.original] >= rule.min_similarity and (
            int((cos > cos[q.original]).sum()) < rule.neighbours or int((own > cos[q.original]).sum()) < rule.neighbours)
        distances = [closest(fp.turn_hashes, u)[0] for u in upright]
        rows[q.recipe].append((candidate, all_turns(fp, o_fp[q.original]) >= rule.min_copy_score,
                               distances[q.original], sum(d < distances[q.original] for d in distances) + 1))
    for recipe, found in rows.items():
        print(f"{recipe:24s} n={len(found)}: embedding-neighbour pair {sum(r[0] for r in found)}, all-turn "
              f"alignment accepts {sum(r[1] for r in found)}, both {sum(r[0] and r[1] for r in found)}; turn-hash "
              f"distance {sorted(r[2] for r in found)} (rank of the original {sorted(r[3] for r in found)})")
    nearest = [min(closest(o_fp[i].turn_hashes, upright[j])[0] for j in range(COREL_SIZE) if j != i)
               for i in range(0, COREL_SIZE, 5)]
    print(f"originals' nearest other original by turn hash (200 sampled): 1 / 5 / 50 % "
          f"{np.quantile(nearest, [0.01, 0.05, 0.5])}; the rule's max_turn_hash_distance {rule.max_turn_hash_distance}")
    sims = originals @ originals.T
    np.fill_diagonal(sims, -2)
    pairs = {tuple(sorted((i, int(j)))) for i in range(COREL_SIZE) for j in np.argsort(-sims[i])[: rule.neighbours]
             if sims[i, j] >= rule.min_similarity}
    cpu.clear()
    rejected = [(a, b) for a, b in sorted(pairs) if rule.score(o_fp[a], o_fp[b], float(sims[a, b])) < rule.min_copy_score]
    flagged = [(a, b) for a, b in rejected
               if max(all_turns(o_fp[a], o_fp[b]), all_turns(o_fp[b], o_fp[a])) >= rule.min_copy_score]
    print(f"originals' neighbour pairs {len(pairs)}, rejected upright {len(rejected)}; flagged by the all-turn "
          f"alignment: {len(flagged)} {flagged[:10]}; CPU per pair (both ways) median "
          f"{np.median(cpu) * 2000:.1f} ms, total {sum(cpu):.1f} s")


if __name__ == "__main__":
    main()

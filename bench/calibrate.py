"""Fit and check the calibrated search scores (imagesearch/scoring) on Corel-1K.

    PYTHONPATH=server:clients/python python -m bench.calibrate [--write] [--cache PATH]

In-process, with the served ONNX image model and the served fingerprint, rule and
scoring code. Corel-1K is split by class: the FIT classes (0, 2, 4, 6, 8) fit the knots,
the HELD-OUT classes (1, 3, 5, 7, 9) only measure them. The collection is all 1,000
originals, as served (fewer classes would hide the cross-class confusions); queries of a
half are (a) every original of its classes (its top-10 hits other than itself), (b) an edited copy of every other original (recipes below, seed 15: not the
set bench/duplicates.py tuned the duplicate rule on; rotations among them), searched
plainly and in the copies mode (the query in four rotations), and (c) a half-picture
crop of every 10th original (reported, not fitted).

`--write` stores the fitted knots as scoring/calibrations/offline.v<N>.json (a new
version: released files are pinned by digest) and prints the digest to register in
scoring/registry.py. Prints the per-band shares on the held-out half and saves the raw
scores for bench/score_plot.py.

The cosine is symmetric: a held-out query's hit in a fit class may have been seen from
the fit side too. The knots are quantiles of whole distributions, not per pair, but the
strict reading is the end-to-end sample in tests/test_score_bands.py, which counts
held-out queries only.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from bench.common import COREL_SIZE, machine_info, print_machine
from bench.duplicates import EDITS, RECIPES, _embedder, corel_bytes

FIT_CLASSES = (0, 2, 4, 6, 8)
HELD_OUT_CLASSES = (1, 3, 5, 7, 9)
SEED = 15
TOP = 10
DEFAULT_CACHE = Path("/tmp/imagesearch-calibrate-cache.npz")
SCORES_OUT = Path(__file__).resolve().parent / "results" / "calibration_scores.json"


def _turn(k: int) -> Callable[[Image.Image, random.Random], Image.Image]:
    turns = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}[k]
    return lambda image, rng: image.transpose(turns)


def _half_crop(image: Image.Image, rng: random.Random) -> Image.Image:
    """Keep half the picture: the left, right, top or bottom half."""
    w, h = image.size
    box = rng.choice([(0, 0, w // 2, h), (w - w // 2, 0, w, h), (0, 0, w, h // 2), (0, h - h // 2, w, h)])
    return image.crop(box)


CAL_EDITS = {**EDITS, "rot90": _turn(1), "rot180": _turn(2), "rot270": _turn(3), "halfcrop": _half_crop}
# bench/duplicates.py's ten recipes plus six with rotations (a quarter of a half's copies).
CAL_RECIPES: list[tuple[tuple[str, ...], int]] = [
    *RECIPES,
    (("rot90",), 90), (("rot180",), 90), (("rot270",), 90), (("rot90", "flip"), 90),
    (("rot270", "crop"), 90), (("rot180", "brightness"), 30),
]


@dataclass(frozen=True)
class Query:
    original: int
    recipe: str
    data: bytes


def edited(original: int, edits: tuple[str, ...], quality: int, rng: random.Random) -> Query:
    with Image.open(io.BytesIO(corel_bytes(original))) as source:
        image = source.convert("RGB")
    for edit in edits:
        image = CAL_EDITS[edit](image, rng)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return Query(original, "+".join(edits) + f"@q{quality}", out.getvalue())


def copy_query(original: int) -> Query:
    """The edited copy of an even-numbered original (its own random draws)."""
    return edited(original, *CAL_RECIPES[(original // 2) % len(CAL_RECIPES)], random.Random(SEED * 10_000 + original))


def half_query(original: int) -> Query:
    """The half-picture crop of an original numbered 5 mod 10."""
    return edited(original, ("halfcrop",), 90, random.Random(SEED * 20_000 + original))


def queries() -> tuple[list[Query], list[Query]]:
    """Edited copies (every other original) and half-picture crops (every 10th)."""
    return [copy_query(i) for i in range(0, COREL_SIZE, 2)], [half_query(i) for i in range(5, COREL_SIZE, 10)]


def embed_all(cache: Path) -> dict[str, np.ndarray]:
    """Vectors of the originals and of every query in four rotations (cached)."""
    if cache.exists():
        return dict(np.load(cache))
    from imagesearch.scoring.orientations import rotated_queries

    embed = _embedder()
    copies, halves = queries()
    started = time.perf_counter()
    out = {"originals": np.stack([embed(corel_bytes(i)) for i in range(COREL_SIZE)])}
    for name, group in (("copies", copies), ("halves", halves)):
        rows = []
        for q in group:
            turns = rotated_queries(q.data)
            rows.append(np.stack([embed(q.data), *(embed(turns[t]) for t in sorted(turns))]))
        out[name] = np.stack(rows)
    print(f"embedded {COREL_SIZE + 4 * (len(copies) + len(halves))} images in {time.perf_counter() - started:.0f} s")
    np.savez(cache, **out)
    return out


@dataclass
class Half:
    """One half of Corel-1K as a collection, with its queries' results."""

    classes: tuple[int, ...]
    ids: np.ndarray  # original indices stored
    ordinary: dict[str, list[float]]  # "same" / "other": cosines of top-10 hits
    copy_cos: dict[str, list[tuple[int, float, int, int]]]  # mode -> (query k, cosine, rank, turns)


def _rank(ids: np.ndarray, sims: np.ndarray, target: int) -> tuple[float, int]:
    order = np.argsort(-sims)
    where = int(np.nonzero(ids[order] == target)[0][0])
    return float(sims[order][where]), where + 1


def search_half(vectors: dict[str, np.ndarray], classes: tuple[int, ...], copies, halves) -> Half:
    ids = np.arange(COREL_SIZE)
    stored = vectors["originals"]
    sims = stored @ stored.T
    np.fill_diagonal(sims, -2)
    ordinary: dict[str, list[float]] = {"same": [], "other": []}
    for row, i in enumerate(ids):
        if i // 100 not in classes:
            continue
        for j in np.argsort(-sims[row])[:TOP]:
            ordinary["same" if ids[j] // 100 == i // 100 else "other"].append(float(sims[row, j]))
    copy_cos: dict[str, list] = {}
    for name, group in (("copies", copies), ("halves", halves)):
        for mode in ("plain", "copies"):
            rows = []
            for k, q in enumerate(group):
                if q.original // 100 not in classes:
                    continue
                per_turn = vectors[name][k] @ stored.T  # [4, n]
                turns = per_turn.argmax(axis=0) if mode == "copies" else np.zeros(len(ids), int)
                merged = per_turn.max(axis=0) if mode == "copies" else per_turn[0]
                cos, rank = _rank(ids, merged, q.original)
                rows.append((k, cos, rank, int(turns[np.nonzero(ids == q.original)[0][0]])))
            copy_cos[f"{name}/{mode}"] = rows
    return Half(classes, ids, ordinary, copy_cos)


def fit_knots(half: Half) -> dict[str, list[float]]:
    """Band edges from the fit half's cosines (see the module docstring of scoring/calibration)."""
    other, same = np.array(half.ordinary["other"]), np.array(half.ordinary["same"])
    non_copy = np.concatenate([other, same])
    # Other-class hits in a top 10 are the confusable ones: noise ends at their 99 %
    # quantile. Related starts at the same-class lower quartile (or just above noise). A
    # cosine alone means a copy only beyond every non-copy pair the fit queries met, with
    # a margin: copies are otherwise lifted by their evidence.
    noise = float(np.quantile(other, 0.99))
    related = max(float(np.quantile(same, 0.25)), noise + 0.02)
    duplicate = min(max(float(non_copy.max()) + 0.03, related + 0.05), 0.98)
    cosines = [0.0, round(noise, 4), round(related, 4), round(duplicate, 4), 1.0]
    return {"cosines": cosines, "scores": [0.0, 0.5, 0.7, 0.9, 1.0]}


# Neighbourhood variants compared on the fit classes only (k best hits, blend weight).
VARIANTS = [(k, w) for k in (5, 10, 20) for w in (0.0, 0.5, 1.0, 2.0, 4.0)]
# A variant qualifies when, fitted on four fit classes, >= 97.5 % of the fifth's
# other-class top-10 hits stay below its noise edge (a margin over the 95 % goal: the
# other-class samples are small); among those, the one keeping the most same-class hits
# >= its "related" edge is chosen.
LOCO_OTHER_MIN = 0.975


def blends(vectors: dict[str, np.ndarray], classes: tuple[int, ...], k: int, weight: float) -> np.ndarray:
    """(blend, same class?, query class) of every top-10 hit of the classes' originals as
    "more like this" queries (self excluded): the blend of scoring/neighbourhood.py."""
    from imagesearch.scoring.calibration import Neighbourhood
    from imagesearch.scoring.neighbourhood import consensus

    hood = Neighbourhood(k, weight) if weight else None
    stored = vectors["originals"]
    rows = []
    for i in range(COREL_SIZE):
        if i // 100 not in classes:
            continue
        cosines = stored @ stored[i]
        cosines[i] = -2
        by_cosine = list(np.argsort(-cosines)[: max(TOP, k)])
        agreement = consensus(by_cosine, {j: stored[j] for j in by_cosine}, k, by_cosine[:TOP]) if hood else {}
        for j in by_cosine[:TOP]:
            value = hood.blend(cosines[j], agreement[j]) if hood else cosines[j]
            rows.append((value, j // 100 == i // 100, i // 100))
    return np.array(rows, float)


def fit_blend_knots(rows: np.ndarray) -> dict[str, list[float]]:
    """The consensus map's knots: fit_knots' rules on the blends."""
    other, same = rows[rows[:, 1] == 0, 0], rows[rows[:, 1] == 1, 0]
    return fit_knots(Half((), np.arange(0), {"same": list(same), "other": list(other)}, {}))


def choose_neighbourhood(vectors: dict[str, np.ndarray]) -> tuple[int, float]:
    """The variant chosen on the fit classes alone, leaving one fit class out at a time."""
    best, chosen = -1.0, (10, 0.0)
    print("neighbourhood variants, fit classes, one class left out at a time:")
    for k, weight in VARIANTS:
        rows = blends(vectors, FIT_CLASSES, k, weight)
        other_ok, same_ok = [], []
        for left in FIT_CLASSES:
            train, test = rows[rows[:, 2] != left], rows[rows[:, 2] == left]
            noise, related = fit_blend_knots(train)["cosines"][1:3]
            other_ok += list(test[test[:, 1] == 0, 0] < noise)
            same_ok += list(test[test[:, 1] == 1, 0] >= related)
        print(f"  k {k:2d} weight {weight:.1f}: other-class < noise {np.mean(other_ok):.3f} (n={len(other_ok)}), "
              f"same-class >= related {np.mean(same_ok):.3f}")
        if np.mean(other_ok) >= LOCO_OTHER_MIN and np.mean(same_ok) > best:
            best, chosen = float(np.mean(same_ok)), (k, weight)
    print(f"chosen: k {chosen[0]}, weight {chosen[1]}")
    return chosen


@dataclass
class Fingerprints:
    originals: list
    copies: list
    halves: list


def fingerprints(copies: list[Query], halves: list[Query]) -> Fingerprints:
    from imagesearch.dedup.fingerprint import fingerprint

    return Fingerprints(
        [fingerprint(corel_bytes(i)) for i in range(COREL_SIZE)],
        [fingerprint(q.data) for q in copies], [fingerprint(q.data) for q in halves],
    )


def ranked(scorer, merged: np.ndarray, turns: np.ndarray, ids: np.ndarray, query_fp, fps: Fingerprints,
           skip: int | None = None, stored: np.ndarray | None = None) -> list[tuple[int, float, float, bool]]:
    """What scoring/search.py's scored_search returns for one query: (original id, score,
    cosine, lifted by copy evidence), top TOP by score; the same candidate rule and, with
    a consensus map (offline/v3), the same neighbourhood (`stored`: the vectors of `ids`)."""
    from imagesearch.scoring.neighbourhood import consensus
    from imagesearch.scoring.orientations import turned

    hood = scorer.neighbourhood
    by_cosine = [j for j in np.argsort(-merged) if ids[j] != skip][: max(TOP, hood.k if hood else 0)]
    order = by_cosine[:TOP]
    agreement = {}
    if hood is not None and stored is not None:
        agreement = consensus(by_cosine, {j: stored[j] for j in by_cosine}, hood.k, order)
    rule_scores: list[float | None] = []
    for position, j in enumerate(order):
        cos = float(merged[j])
        rule_score = None
        if position < scorer.candidates and cos >= scorer.min_similarity:
            rule_score = scorer.rule_score(turned(query_fp, int(turns[j])), fps.originals[ids[j]], cos)
        rule_scores.append(rule_score)
    cosines = [float(merged[j]) for j in order]
    scores = scorer.ranked_scores(cosines, rule_scores, [agreement.get(j) for j in order])
    out = [(int(ids[j]), score, cos, r is not None and scorer.copy_lift(r) is not None)
           for j, score, cos, r in zip(order, scores, cosines, rule_scores)]
    out.sort(key=lambda r: (-r[1], -r[2]))
    return out


def evaluate(scorer, vectors, half: Half, copies, halves, fps: Fingerprints) -> dict:
    """Per-band figures of one half under `scorer` (and raw cosines, for the plot)."""
    from imagesearch.scoring.neighbourhood import consensus

    stored = vectors["originals"][half.ids]
    result: dict = {"same": [], "other": [], "same_cos": [], "other_cos": [], "non_copy_lifted": 0}
    other50 = []
    for row, i in enumerate(half.ids):
        if i // 100 not in half.classes:
            continue
        cosines = stored[row] @ stored.T
        cosines[row] = -2
        top50 = list(np.argsort(-cosines)[:50])
        agreement = consensus(top50, {j: stored[j] for j in top50}, scorer.neighbourhood.k, top50) \
            if scorer.neighbourhood else {}
        scores50 = scorer.ranked_scores([cosines[j] for j in top50], [None] * 50, [agreement.get(j) for j in top50])
        other50 += [s for j, s in zip(top50, scores50) if half.ids[j] // 100 != i // 100]
        hits = ranked(scorer, stored[row] @ stored.T, np.zeros(len(half.ids), int), half.ids, fps.originals[i],
                      fps, skip=int(i), stored=stored)
        for j, score, cos, lifted in hits:
            key = "same" if j // 100 == i // 100 else "other"
            result[key].append(score)
            result[f"{key}_cos"].append(cos)
    result["other50"] = other50
    for name, group, group_fps in (("copies", copies, fps.copies), ("halves", halves, fps.halves)):
        for mode in ("plain", "copies"):
            rows = []
            for k, q in enumerate(group):
                if q.original // 100 not in half.classes:
                    continue
                per_turn = vectors[name][k] @ stored.T
                if mode == "copies":
                    merged, turns = per_turn.max(axis=0), per_turn.argmax(axis=0)
                else:
                    merged, turns = per_turn[0], np.zeros(len(half.ids), int)
                hits = ranked(scorer, merged, turns, half.ids, group_fps[k], fps, stored=stored)
                found = [(r, h) for r, h in enumerate(hits, start=1) if h[0] == q.original]
                rank, score = (found[0][0], found[0][1][1]) if found else (0, 0.0)
                cos = float(merged[np.nonzero(half.ids == q.original)[0][0]])
                non_copies = [h for h in hits if h[0] != q.original]
                rows.append({"recipe": q.recipe, "rank": rank, "score": score, "cos": cos,
                             "false_dup": sum(h[1] >= 0.9 for h in non_copies), "others": len(non_copies)})
            result[f"{name}/{mode}"] = rows
    return result


def _share(values, test) -> float:
    values = list(values)
    return sum(map(test, values)) / max(len(values), 1)


def report(label: str, result: dict) -> None:
    same, other = np.array(result["same"]), np.array(result["other"])
    copies = result["copies/plain"]
    non_copy_top = np.concatenate([same, other])
    false_dups = sum(r["false_dup"] for r in copies)
    print(f"\n== {label} ==")
    print(f"ordinary queries, top-{TOP} hits: same class {len(same)}, other class {len(other)}")
    print(f"  other-class < 0.5: {np.mean(other < 0.5):.3f}  (median {np.median(other):.3f}, max {other.max():.3f})")
    other50 = np.array(result["other50"])
    print(f"  other-class among the top 50 (n={len(other50)}): < 0.5 {np.mean(other50 < 0.5):.3f}")
    print(f"  same-class in 0.7-0.9: {np.mean((same >= 0.7) & (same < 0.9)):.3f}, >= 0.9: {np.mean(same >= 0.9):.3f}, "
          f"0.5-0.7: {np.mean((same >= 0.5) & (same < 0.7)):.3f}, < 0.5: {np.mean(same < 0.5):.3f} "
          f"(median {np.median(same):.3f})")
    print(f"  non-copy top-{TOP} hits >= 0.9: ordinary queries {np.mean(non_copy_top >= 0.9):.4f}, "
          f"copy queries' other hits {false_dups}/{sum(r['others'] for r in copies)}")
    for mode in ("plain", "copies"):
        rows = result[f"copies/{mode}"]
        print(f"edited copies, {mode} search: >= 0.9 {_share(rows, lambda r: r['score'] >= 0.9):.3f}, "
              f"original first {_share(rows, lambda r: r['rank'] == 1):.3f} (n={len(rows)}, "
              f"median score {np.median([r['score'] for r in rows]):.3f})")
        for recipe in dict.fromkeys(r["recipe"] for r in rows):
            sub = [r for r in rows if r["recipe"] == recipe]
            print(f"    {recipe:34s} >= 0.9 {_share(sub, lambda r: r['score'] >= 0.9):.2f}  "
                  f"first {_share(sub, lambda r: r['rank'] == 1):.2f}  n={len(sub)}")
        halves = result[f"halves/{mode}"]
        print(f"  half-picture crops, {mode}: >= 0.9 {_share(halves, lambda r: r['score'] >= 0.9):.2f}, "
              f"first {_share(halves, lambda r: r['rank'] == 1):.2f}, in top {TOP} "
              f"{_share(halves, lambda r: r['rank'] > 0):.2f}, median cosine "
              f"{np.median([r['cos'] for r in halves]):.3f}")


def costs(copies: list[Query], fps: Fingerprints, stored: np.ndarray, samples: int = 40) -> None:
    """CPU per search of what calibration adds (process CPU time, this process only)."""
    from imagesearch.dedup.fingerprint import Fingerprint, fingerprint
    from imagesearch.dedup.rule import NearDuplicateRule
    from imagesearch.scoring.orientations import rotated_queries

    def cpu_ms(run, items) -> float:
        started = time.process_time()
        for item in items:
            run(item)
        return (time.process_time() - started) / len(items) * 1000

    sample = copies[:samples]
    payloads = [fps.originals[q.original].to_payload() for q in sample]
    rule = NearDuplicateRule()
    embed = _embedder()
    print(f"\ncost per search (CPU ms, mean of {samples} Corel queries; this machine, under load):")
    print(f"  query fingerprint {cpu_ms(lambda q: fingerprint(q.data), sample):.2f}")
    print(f"  stored fingerprint decode {cpu_ms(Fingerprint.from_payload, payloads):.2f} per candidate")
    print(f"  copy rule (alignment) {cpu_ms(lambda k: rule.score(fps.copies[k], fps.originals[sample[k].original], 0.7), range(samples)):.2f} per candidate")
    from imagesearch.scoring.neighbourhood import consensus

    hoods = [list(np.argsort(-(stored @ stored[q.original]))[:TOP]) for q in sample]
    print(f"  consensus (offline/v3; k {TOP}, {TOP} hits, {stored.shape[1]}-d) "
          f"{cpu_ms(lambda h: consensus(h, {j: stored[j] for j in h}, TOP, h), hoods):.3f}")
    print(f"  copies mode: rotations {cpu_ms(lambda q: rotated_queries(q.data), sample):.2f}, "
          f"one embedding (in-process ONNX, for scale) {cpu_ms(lambda q: embed(q.data), sample):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="vectors cache (made when missing)")
    parser.add_argument("--write", type=int, metavar="VERSION", help="write the fitted knots as this version")
    args = parser.parse_args()
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.calibrate")
    from imagesearch.scoring import calibration, registry
    from imagesearch.scoring.scorer import Scorer

    copies, halves = queries()
    vectors = embed_all(args.cache)
    fps = fingerprints(copies, halves)
    fit = search_half(vectors, FIT_CLASSES, copies, halves)
    held = search_half(vectors, HELD_OUT_CLASSES, copies, halves)
    knots = fit_knots(fit)
    print("fitted knots (cosine -> score):", list(zip(knots["cosines"], knots["scores"])))
    k, weight = choose_neighbourhood(vectors)
    blend_knots = fit_blend_knots(blends(vectors, FIT_CLASSES, k, weight))
    print("fitted consensus knots (blend -> score):", list(zip(blend_knots["cosines"], blend_knots["scores"])))
    document = _document(args.write or 0, knots, blend_knots, k, weight)
    if args.write:
        registry.path_of("offline", args.write).write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {registry.path_of('offline', args.write)}; digest {calibration.canonical_digest(document)}")
    fitted = calibration.parse({**document, "version": max(document["version"], 1)})
    previous = registry.load("offline", 2)
    report("previous: offline/v2 (cosine map only; held-out classes)",
           evaluate(Scorer(previous, "image"), vectors, held, copies, halves, fps))
    started = time.process_time()
    held_result = evaluate(Scorer(fitted, "image"), vectors, held, copies, halves, fps)
    print(f"(evaluation CPU {time.process_time() - started:.1f} s)")
    raw_result = evaluate(Scorer(None, "image"), vectors, held, copies, halves, fps)
    report("before: score = cosine (held-out classes)", raw_result)
    report("after: calibrated (held-out classes, never fitted on)", held_result)
    report("after, on the fit classes (for comparison only)",
           evaluate(Scorer(fitted, "image"), vectors, fit, copies, halves, fps))
    SCORES_OUT.parent.mkdir(exist_ok=True)
    keep = ("same", "other", "same_cos", "other_cos")
    SCORES_OUT.write_text(json.dumps({
        "knots": knots,
        "before": {**{k: raw_result[k] for k in keep}, "copies": [r["score"] for r in raw_result["copies/plain"]]},
        "after": {**{k: held_result[k] for k in keep}, "copies": [r["score"] for r in held_result["copies/plain"]],
                  "copies_mode": [r["score"] for r in held_result["copies/copies"]]},
    }))
    print(f"scores for the plot: {SCORES_OUT}")
    costs(copies, fps, vectors["originals"])


def _document(version: int, knots: dict, blend_knots: dict, k: int, weight: float) -> dict:
    """offline/v<version>: v2's text maps, the image cosine map, and (v3 on) the image
    consensus map with its neighbourhood."""
    return {
        "model_set": "offline", "version": version,
        "fitted_on": "bench/calibrate.py: Corel-1K classes 0,2,4,6,8 (ordinary queries and edited copies, seed 15); "
                     "text below-best knots: bench/text_norm.py (the same fit classes' text queries through the server)",
        "spaces": {"image": knots, "image:consensus": blend_knots, **TEXT_KNOTS},
        "neighbourhood": {"k": k, "weight": weight},
        "copies": {"candidates": 3, "min_similarity": 0.5},
    }


# Text queries (offline set): their own bands, fitted through the server by
# `python -m bench.calibrate_text` on the fit classes' queries (docs/quality.md, "Scores").
TEXT_KNOTS: dict[str, dict[str, list[float]]] = {
    "text:text_image": {"cosines": [0.0, 0.5903, 0.7041, 1.0], "scores": [0.0, 0.5, 0.7, 0.9]},
    # offline/v2 on: the below-best map (`python -m bench.text_norm`).
    "text:text_image:below_best": {"cosines": [0.0, 0.8878, 0.9078, 1.0], "scores": [0.0, 0.5, 0.7, 0.9]},
}


if __name__ == "__main__":
    main()

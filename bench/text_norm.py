"""Per-query normalisations of the text score, measured through the real server.

    PYTHONPATH=server:clients/python python -m bench.text_norm --start [--dump PATH]
    PYTHONPATH=server:clients/python python -m bench.text_norm --load PATH

The fused text score's level depends on the query (docs/quality.md, "Text queries"): a
fixed noise edge fitted on five classes' queries sits too low for the others. This
collects each query's top 100 (bench/calibrate_text.py's queries and split), recovers the
fused score from the served one (the shipped text knots are invertible), and for each
candidate normalisation fits the knots on the FIT classes (calibrate_text.fit) and reports
the HELD-OUT bands. Every normalisation here can be computed by the server from the
query's own top-100 candidates (search_with_feedback always fetches at least 100).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from bench.calibrate import FIT_CLASSES, HELD_OUT_CLASSES
from bench.calibrate_text import TOP, bands, fit
from bench.text_quality import QUERY_SETS, class_of

Query = dict  # {"wanted": class, "fused": [top-100 fused scores, best first], "relevant": [bool]}


def collect(client, collection: str) -> list[Query]:
    from imagesearch.scoring import registry
    from imagesearch.scoring.calibration import BELOW_BEST

    out = []
    for queries in QUERY_SETS.values():
        for wanted, phrase in enumerate(queries):
            hits = client.search_text(collection, phrase, top_k=TOP)
            model_set, version = hits[0].score_calibration.split("/v")
            served = registry.load(model_set, int(version))
            text, below = served.space("text:text_image"), served.spaces.get("text:text_image" + BELOW_BEST)
            # The best hit's score is its fused score's map (it is 0 below the best); the
            # others' score is the lower of the two maps, whose inverses bound the fused score.
            best = float(np.interp(hits[0].score, text.scores, text.cosines))
            fused = [best] + [
                max(float(np.interp(h.score, text.scores, text.cosines)),
                    float(np.interp(h.score, below.scores, below.cosines)) + best - 1 if below else 0.0)
                for h in hits[1:]
            ]
            out.append({"wanted": wanted, "fused": fused, "relevant": [class_of(h.id) == wanted for h in hits]})
    return out


NORMALISATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "fused (served)": lambda f: f,
    "fused - best + 1": lambda f: f - f[0] + 1,
    "fused / best": lambda f: f / f[0],
    "fused - median(top 100) + 0.5": lambda f: f - np.median(f) + 0.5,
    "(fused - median) / (best - median)": lambda f: 0.5 + 0.5 * (f - np.median(f)) / max(f[0] - np.median(f), 1e-6),
    "fused - mean(top 100) + 0.5": lambda f: f - f.mean() + 0.5,
}


def scores_of(queries: list[Query], classes, norm) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"relevant": [], "other": [], "relevant10": [], "other10": []}
    for q in queries:
        if q["wanted"] not in classes:
            continue
        values = np.clip(norm(np.asarray(q["fused"])), 0.0, 1.0)
        for rank, (value, relevant) in enumerate(zip(values, q["relevant"])):
            key = "relevant" if relevant else "other"
            out[key].append(float(value))
            if rank < 10:
                out[f"{key}10"].append(float(value))
    return out


def fit_below_best(queries: list[Query]) -> dict[str, list[float]]:
    """offline/v2's second text map, of fused - best + 1: noise ends at the 97.5 % quantile
    of the fit queries' irrelevant hits (as the fused score's map), "matches" starts at the
    lowest of their relevant top-10 hits, so that the cap it adds never pushes a relevant
    top-10 hit of a fit query out of "matches" (a quartile, as the first map, cut them to 59 %)."""
    values = scores_of(queries, FIT_CLASSES, NORMALISATIONS["fused - best + 1"])
    noise = float(np.quantile(values["other"], 0.975))
    matches = max(float(np.min(values["relevant10"])), noise + 0.02)
    return {"cosines": [0.0, round(noise, 4), round(matches, 4), 1.0], "scores": [0.0, 0.5, 0.7, 0.9]}


def shipped_bands(queries: list[Query], classes, fused_knots, below_knots) -> str:
    """The shares under min(fused map, below-best map), as offline/v2 scores text hits."""
    relevant10, other = [], []
    for q in queries:
        if q["wanted"] not in classes:
            continue
        fused = np.asarray(q["fused"])
        scores = np.minimum(np.interp(fused, fused_knots["cosines"], fused_knots["scores"]),
                            np.interp(fused - fused[0] + 1, below_knots["cosines"], below_knots["scores"]))
        for rank, (value, relevant) in enumerate(zip(scores, q["relevant"])):
            if relevant and rank < 10:
                relevant10.append(value)
            elif not relevant:
                other.append(value)
    return (f"irrelevant (top {TOP}) < 0.5: {np.mean(np.array(other) < 0.5):.3f} (n={len(other)}); relevant "
            f"top-10 >= 0.7: {np.mean(np.array(relevant10) >= 0.7):.3f} (n={len(relevant10)})")


def analyse(queries: list[Query]) -> None:
    for name, norm in NORMALISATIONS.items():
        knots = fit(scores_of(queries, FIT_CLASSES, norm))
        print(f"{name}: knots {knots['cosines']}")
        print("    fit:     ", bands(knots, scores_of(queries, FIT_CLASSES, norm)))
        print("    held-out:", bands(knots, scores_of(queries, HELD_OUT_CLASSES, norm)))
    fused_knots = fit(scores_of(queries, FIT_CLASSES, NORMALISATIONS["fused (served)"]))
    below = fit_below_best(queries)
    print(f"shipped (offline/v2): min(fused map {fused_knots['cosines']}, below-best map {below['cosines']})")
    print("    fit:     ", shipped_bands(queries, FIT_CLASSES, fused_knots, below))
    print("    held-out:", shipped_bands(queries, HELD_OUT_CLASSES, fused_knots, below))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", action="store_true")
    parser.add_argument("--load", type=Path)
    parser.add_argument("--dump", type=Path, default=Path("/tmp/imagesearch-text-norm.json"))
    args = parser.parse_args()
    if args.load:
        analyse(json.loads(args.load.read_text()))
        return
    from bench.common import COREL_DIR, COREL_SIZE
    from imagesearch.launcher.api_server import ServerProcess
    from imagesearch_client import ImageSearchClient, InsertItem

    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess(Path(data)).start()
        try:
            with ImageSearchClient(server.address, timeout=900) as client:
                client.create_collection("corel", skip_nsfw_scoring=True)
                items = [InsertItem(image=(COREL_DIR / f"{i}.jpg").read_bytes(), id=f"corel-{i}")
                         for i in range(COREL_SIZE)]
                assert all(o.ok for o in client.import_items("corel", items, timeout=900))
                queries = collect(client, "corel")
        finally:
            server.stop()
    args.dump.write_text(json.dumps(queries))
    analyse(queries)


if __name__ == "__main__":
    main()

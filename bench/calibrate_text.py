"""Fit the text-query bands of the offline set's calibration through the real server.

    PYTHONPATH=server:clients/python python -m bench.calibrate_text --server HOST:PORT --collection corel
    PYTHONPATH=server:clients/python python -m bench.calibrate_text --start   # own server + Triton, ingests Corel

Text scores are the feedback-fused scores (api/feedback.py), which only the server makes,
so this measures them served, with the text calibration switched off (the fused score as
it is). The three query sets of bench/text_quality.py, one query per class each: the
queries for the FIT classes (0, 2, 4, 6, 8) fit the knots, those for the held-out classes
only measure them. A hit is relevant when it is of the query's class.

Text queries have their own bands, since no text is a copy of an image: >= 0.7 matches
the description, 0.5-0.7 possibly, < 0.5 noise; scores stay below 0.9.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.calibrate import FIT_CLASSES, HELD_OUT_CLASSES
from bench.text_quality import QUERY_SETS, class_of

TOP = 100
TEXT_SCORES = (0.0, 0.5, 0.7, 0.9)


def collect(client, collection: str, classes: tuple[int, ...]) -> dict[str, list[float]]:
    """Scores of the top-TOP hits of every query wanting one of `classes`, by relevance,
    and of the relevant hits within each top 10."""
    out: dict[str, list[float]] = {"relevant": [], "other": [], "relevant10": [], "other10": []}
    for queries in QUERY_SETS.values():
        for wanted, text in enumerate(queries):
            if wanted not in classes:
                continue
            for rank, hit in enumerate(client.search_text(collection, text, top_k=TOP)):
                key = "relevant" if class_of(hit.id) == wanted else "other"
                out[key].append(hit.score)
                if rank < 10:
                    out[f"{key}10"].append(hit.score)
    return out


def fit(scores: dict[str, list[float]]) -> dict[str, list[float]]:
    """noise ends at the 97.5 % quantile of irrelevant hits; "matches" starts at the lower
    quartile of relevant top-10 hits; a fused score of 1 maps to 0.9."""
    noise = float(np.quantile(scores["other"], 0.975))
    matches = max(float(np.quantile(scores["relevant10"], 0.25)), noise + 0.02)
    return {"cosines": [0.0, round(noise, 4), round(matches, 4), 1.0], "scores": list(TEXT_SCORES)}


def bands(knots: dict[str, list[float]], scores: dict[str, list[float]]) -> str:
    def cal(values) -> np.ndarray:
        return np.interp(values, knots["cosines"], knots["scores"])

    rel, other, rel10 = cal(scores["relevant"]), cal(scores["other"]), cal(scores["relevant10"])
    return (f"irrelevant (top {TOP}) < 0.5: {np.mean(other < 0.5):.3f} (n={len(other)}); relevant top-10 >= 0.7: "
            f"{np.mean(rel10 >= 0.7):.3f}, >= 0.5: {np.mean(rel10 >= 0.5):.3f} (n={len(rel10)}); relevant top-{TOP} "
            f">= 0.5: {np.mean(rel >= 0.5):.3f}")


def run(client, collection: str) -> dict[str, list[float]]:
    fitted = collect(client, collection, FIT_CLASSES)
    held = collect(client, collection, HELD_OUT_CLASSES)
    for name, values in held.items():
        print(f"held-out raw {name}: n={len(values)} median {np.median(values):.3f}")
    knots = fit(fitted)
    print("text knots (fused score -> score):", list(zip(knots["cosines"], knots["scores"])))
    print("fit classes:     ", bands(knots, fitted))
    print("held-out classes:", bands(knots, held))
    print("held-out, before (score = fused score):",
          bands({"cosines": [0.0, 1.0], "scores": [0.0, 1.0]}, held))
    return knots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="HOST:PORT of a server whose collection holds Corel-1K")
    parser.add_argument("--collection", default="corel")
    parser.add_argument("--start", action="store_true", help="start a server (own Triton), ingest Corel-1K")
    args = parser.parse_args()
    from imagesearch_client import ImageSearchClient, InsertItem

    if not args.start:
        with ImageSearchClient(args.server, timeout=120) as client:
            run(client, args.collection)
        return
    from bench.common import COREL_DIR, COREL_SIZE
    from imagesearch.launcher.api_server import ServerProcess

    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess(Path(data)).start()
        try:
            with ImageSearchClient(server.address, timeout=900) as client:
                client.create_collection(args.collection)
                items = [InsertItem(image=(COREL_DIR / f"{i}.jpg").read_bytes(), id=f"corel-{i}")
                         for i in range(COREL_SIZE)]
                assert all(o.ok for o in client.import_items(args.collection, items, timeout=900))
                run(client, args.collection)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

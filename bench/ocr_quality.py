"""OCR quality on the generated set, in-process (the Triton model's own pipeline code).

    PYTHONPATH=server:clients/python python -m bench.ocr_quality [--rendered 300] [--untouched 700]
        [--param det_min_side=640 --param tilt_angles=20,-20 --param read_alternatives=false ...]
        [--out lines.json]

Reads the rendered photos (and optionally the untouched ones) of bench/ocr_renders.py with
`OcrPipeline`, then ranks them with the store's matching (imagesearch.ocr.matching) exactly
as tests/test_ocr_quality.py does, and prints the rates and every miss with how it was
drawn and what was read: the tool behind docs/quality.md's OCR failure analysis.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.common import COREL_DIR
from bench.ocr import MAX_PIXELS, _load_pipeline, _model_code
from bench.ocr_renders import build_set


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if "," in text or text == "()":
        return tuple(float(part) for part in text.strip("()").split(",") if part)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_set(args, only: set[str] | None = None, lines_before: dict | None = None) -> tuple[list, dict[str, list]]:
    """Read the set (or only the render ids in `only`) with the pipeline and args' overrides."""
    _model_code()
    from preprocessing import decode_rgb_array as decode  # type: ignore[import-not-found]

    overrides = dict((k, _value(v)) for k, v in (p.split("=", 1) for p in args.param))
    pipeline, _ = _load_pipeline(**overrides)
    renders = build_set(COREL_DIR, rendered=args.rendered, untouched=args.untouched, seed=args.seed)
    lines: dict[str, list] = {}
    lines_before = lines_before or {}
    gated = 0
    times = {"text": [], "none": []}
    for render in renders:
        key = f"render-{render.index}" if render.text else f"corel-{render.index}"
        if only is not None and key not in only:
            # Read as before unless this pipeline's gate now stops it (its boxes come on top).
            if key in lines_before and not pipeline.has_text(np.ascontiguousarray(
                    decode(render.image, MAX_PIXELS)[:, :, ::-1])):
                lines[key] = []
                gated += 1
            continue
        start = time.perf_counter()
        read = pipeline.read(decode(render.image, MAX_PIXELS))
        times["text" if render.text else "none"].append(time.perf_counter() - start)
        lines[key] = [[line.text, line.confidence, [list(p) for p in line.box]] for line in read]
    if only is not None:
        print(f"photos read before that the gate now stops: {gated}")
    for kind, values in times.items():
        if values:
            print(f"ms per image, {kind}: mean {1000 * sum(values) / len(values):.1f}", flush=True)
    return renders, lines


def first_hit(query: str, key: str, lines: dict[str, list]) -> bool:
    """Whether `key` is the best match of `query` among the saved `lines`."""
    from imagesearch.ocr.lines import OcrLine
    from imagesearch.ocr.matching import match_lines
    from imagesearch.ocr.query import parse_query

    parsed = parse_query(query)
    scored = sorted(((m.score, k) for k, v in lines.items()
                     if (m := match_lines(parsed, tuple(OcrLine(t, c, tuple(map(tuple, b))) for t, c, b in v)))),
                    key=lambda item: (-item[0], item[1]))
    return bool(scored) and scored[0][1] == key


def rates(renders, lines: dict[str, list], verbose: bool) -> dict[str, float]:
    from imagesearch.ocr.lines import OcrLine
    from imagesearch.ocr.matching import match_lines
    from imagesearch.ocr.query import parse_query

    corpus = {k: tuple(OcrLine(t, c, tuple(map(tuple, b))) for t, c, b in v) for k, v in lines.items()}

    def first(query: str, key: str) -> tuple[bool, list]:
        parsed = parse_query(query)
        scored = sorted(((m.score, k) for k, ls in corpus.items() if (m := match_lines(parsed, ls))),
                        key=lambda item: (-item[0], item[1]))
        return bool(scored) and scored[0][1] == key, scored[:2]

    rendered = [r for r in renders if r.text]
    found = 0
    causes: Counter = Counter()
    sub_total = sub_first = 0
    for render in rendered:
        key = f"render-{render.index}"
        ok, top = first(render.text, key)
        found += ok
        if not ok:
            read = [t for t, _, _ in lines[key]]
            causes["nothing read" if not read else "read wrong"] += 1
            if verbose:
                print(f"MISS {render.text!r:18} {render.kind:5} {render.description:48} read={read} top={top}")
        if render.is_code:
            compact = re.sub(r"[^A-Za-z0-9]", "", render.text)
            for start in range(len(compact) - 3):
                sub_total += 1
                sub_first += first(compact[start:start + 4], key)[0]
    result = {"words_first": found / len(rendered), "substrings_first": sub_first / max(1, sub_total)}
    print(f"words first {found}/{len(rendered)} = {result['words_first']:.3f}; substrings first "
          f"{sub_first}/{sub_total} = {result['substrings_first']:.3f}; misses: {dict(causes)}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ocr_quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rendered", type=int, default=300)
    parser.add_argument("--untouched", type=int, default=0)
    parser.add_argument("--seed", type=int, default=12, help="12: the quality tests' set")
    parser.add_argument("--param", action="append", default=[], help="PipelineParams override, NAME=VALUE")
    parser.add_argument("--out", type=Path, help="save the lines read (JSON) here")
    parser.add_argument("--lines", type=Path, help="rank saved lines instead of reading")
    parser.add_argument("--reread-misses", type=Path, metavar="LINES",
                        help="take saved lines, and re-read only the rendered photos they miss")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args(argv)
    if args.reread_misses:
        lines = json.loads(args.reread_misses.read_text())
        renders = build_set(COREL_DIR, rendered=args.rendered, untouched=args.untouched, seed=args.seed)
        misses = {f"render-{r.index}" for r in renders if r.text and not first_hit(r.text, f"render-{r.index}", lines)}
        print(f"re-reading {len(misses)} missed photos", flush=True)
        lines.update(read_set(args, misses, lines)[1])
        if args.out:
            args.out.write_text(json.dumps(lines))
    elif args.lines:
        lines = json.loads(args.lines.read_text())
        renders = build_set(COREL_DIR, rendered=args.rendered, untouched=args.untouched, seed=args.seed)
    else:
        renders, lines = read_set(args)
        if args.out:
            args.out.write_text(json.dumps(lines))
    rates(renders, lines, args.verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

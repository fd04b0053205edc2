"""`python -m bench {all,server,batching,store} [--quick]`: run, print, save, document.

- server:   benchmarks 1 (ingest), 2 (query latency) and 6 (memory) on one real server
- batching: benchmark 3 (Triton dynamic batching on vs off, 16 clients)
- store:    benchmarks 4 (vector store scaling) and 5 (queries during an index build)
- all:      the three above, in that order
- report:   only rewrite docs/benchmarks.md from the JSON files already in --results-dir
            (e.g. after running the suites one by one)

--quick shrinks every size so the whole suite takes a few minutes (the CI smoke test);
it never fails on speed. A full `all` run also rewrites docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from bench.common import RESULTS_DIR, Outcome, machine_info, print_machine, reproduce_command

FULL_SIZES = "10k,100k"
QUICK_SIZES = "5k"
DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1m' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def run_server(args: argparse.Namespace) -> list[Outcome]:
    from bench.server_suite import run

    return run(quick=args.quick)


def run_batching(args: argparse.Namespace) -> list[Outcome]:
    from bench.batching import run

    return run(quick=args.quick)


def run_store(args: argparse.Namespace) -> list[Outcome]:
    from bench.store_scaling import run

    sizes = [parse_size(s) for s in (args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)).split(",")]
    return run(sizes, query_count=50 if args.quick else 200, quantizations=args.quantization.split(","))


SUITES: dict[str, Callable[[argparse.Namespace], list[Outcome]]] = {
    "server": run_server,
    "batching": run_batching,
    "store": run_store,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=["all", "report", *SUITES])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all")
    parser.add_argument("--sizes", help=f"store sizes, e.g. 10k,100k,1m (default {FULL_SIZES}; quick {QUICK_SIZES})")
    parser.add_argument(
        "--quantization", default="none,int8",
        help="store suite: quantizations to measure, comma-separated from none,int8 (default %(default)s; "
        "the server's default is int8)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON files go")
    parser.add_argument("--docs", type=Path, default=None,
                        help=f"rewrite this report from the JSON files (default for a full `all` and for `report`: {DOCS_PATH})")
    args = parser.parse_args(argv)

    machine = machine_info()
    command = reproduce_command(argv)
    print_machine(machine, command)
    names = {"all": list(SUITES), "report": []}.get(args.suite, [args.suite])
    for name in names:
        for outcome in SUITES[name](args):
            outcome.show()
            print(f"saved {outcome.save(args.results_dir, machine, command)}")
    docs = args.docs or (DOCS_PATH if args.suite in ("all", "report") and not args.quick else None)
    if docs is not None:
        from bench.report import write_report

        write_report(args.results_dir, docs)
        print(f"wrote {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak: a real server (local Triton + embedded store) searched by 16 clients while a
writer keeps replacing and deleting the same ~50 items, for --minutes.

Prints, per minute: calls, errors, search p50/p99, and the resident memory of the API
server and of Triton (tritonserver + its Python-backend stubs), plus the shard's size on
disk; then each process's RSS growth after the first minute (goal: <= 10 %) and the error
count (goal: 0).

    PYTHONPATH=server:clients/python python -m bench.soak --minutes 10
    PYTHONPATH=server:clients/python python -m bench.soak --minutes 2 --clients 4   # a busy machine

When any call failed (or always, with --keep-logs), the server's and Triton's logs, the
first errors with their times and the Triton process changes are copied to a folder kept
after the run (its path is printed): the data directory, and the logs in it, are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.common import (
    corel_images, descendants, directory_bytes, latency_summary, machine_info, print_machine, rss_bytes, rss_parts,
)
from imagesearch.launcher.api_server import ServerProcess
from imagesearch_client import AsyncImageSearchClient, InsertItem

COLLECTION = "soak"
WRITER_IDS = 50
SAMPLE_S = 10.0
# Error details kept for the log folder: enough to date a burst without keeping 18k lines.
ERROR_DETAILS_KEPT = 200


@dataclass
class Minute:
    """What happened in one minute of the soak."""

    searches: list[float] = field(default_factory=list)
    writes: int = 0
    errors: list[str] = field(default_factory=list)
    rss_mib: dict[str, float] = field(default_factory=dict)
    shard_mib: float = 0.0
    triton_pids: frozenset[int] = frozenset()


class Soak:
    def __init__(self, server: ServerProcess, images: list[bytes], minutes: float, clients: int) -> None:
        self.server = server
        self.images = images
        self.deadline = time.monotonic() + minutes * 60
        self.started = time.monotonic()
        self.clients = clients
        self.minutes: list[Minute] = [Minute()]
        # (wall-clock time, what failed), the first ERROR_DETAILS_KEPT of them.
        self.error_details: list[tuple[str, str]] = []
        # (wall-clock time, Triton processes that appeared, ones that went, as "pid name"):
        # a stub restart shows here.
        self.triton_changes: list[tuple[str, list[str], list[str]]] = []

    def now(self) -> Minute:
        index = int((time.monotonic() - self.started) // 60)
        while len(self.minutes) <= index:
            self.minutes.append(Minute())
        return self.minutes[index]

    def failed(self, error: Exception) -> None:
        detail = error.code().name if isinstance(error, grpc.aio.AioRpcError) else type(error).__name__
        self.now().errors.append(detail)
        if len(self.error_details) < ERROR_DETAILS_KEPT:
            text = error.details() if isinstance(error, grpc.aio.AioRpcError) else str(error)
            self.error_details.append((_wall_clock(), f"{detail}: {text}"))

    async def searcher(self, seed: int) -> None:
        rng = random.Random(seed)
        async with AsyncImageSearchClient(self.server.address, timeout=60) as client:
            while time.monotonic() < self.deadline:
                started = time.perf_counter()
                try:
                    await client.search(COLLECTION, rng.choice(self.images), top_k=10)
                    self.now().searches.append(time.perf_counter() - started)
                except (grpc.aio.AioRpcError, OSError) as error:
                    self.failed(error)

    async def writer(self) -> None:
        rng = random.Random(7)
        async with AsyncImageSearchClient(self.server.address, timeout=60) as client:
            while time.monotonic() < self.deadline:
                item = f"w{rng.randrange(WRITER_IDS)}"
                try:
                    if rng.random() < 0.25:
                        await client.delete_item(COLLECTION, item, allow_missing=True)
                    else:
                        await client.create_item(COLLECTION, InsertItem(image=rng.choice(self.images), id=item,
                                                                        metadata={"round": rng.random()}))
                    self.now().writes += 1
                except (grpc.aio.AioRpcError, OSError) as error:
                    self.failed(error)

    async def sampler(self) -> None:
        shard = self.server.data_dir / "collections" / COLLECTION
        names: dict[int, str] = {}
        while time.monotonic() < self.deadline:
            minute = self.now()
            # The API server's children are Triton's processes and, during an index build,
            # the build's child (not Triton's: left out of its RSS and of the changes).
            found = {pid: names.get(pid) or process_name(pid) for pid in descendants(self.server.process.pid)}
            found = {pid: name for pid, name in found.items() if name != INDEX_BUILD}
            if names and found.keys() != names.keys():
                self.triton_changes.append((
                    _wall_clock(), [f"{p} {found[p]}" for p in sorted(found.keys() - names.keys())],
                    [f"{p} {names[p]}" for p in sorted(names.keys() - found.keys())],
                ))
            names = found
            pids = minute.triton_pids = frozenset(found)
            parts = rss_parts(self.server.process.pid)
            minute.rss_mib = {
                "api_server": rss_bytes(self.server.process.pid) / 2**20,
                "api_anon": parts.get("anon", 0) / 2**20,
                "api_file": (parts.get("file", 0) + parts.get("shmem", 0)) / 2**20,
                "triton": sum(rss_bytes(p) for p in pids) / 2**20,
            }
            minute.shard_mib = directory_bytes(shard) / 2**20 if shard.exists() else 0.0
            await asyncio.sleep(SAMPLE_S)

    async def run(self) -> None:
        await asyncio.gather(self.sampler(), self.writer(), *(self.searcher(k) for k in range(self.clients)))


INDEX_BUILD = "index build"


def process_name(pid: int) -> str:
    """What a child of the API server is: a Python-backend stub's model, tritonserver, or
    the store's index build."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return "exited"
    if "imagesearch.store.indexer" in argv:
        return INDEX_BUILD
    model = next((Path(a).parent.parent.name for a in argv if a.endswith("model.py")), None)
    return f"stub of {model}" if model else Path(argv[0]).name


def _wall_clock() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def keep_logs(server: ServerProcess, soak: Soak | None, folder: Path) -> Path:
    """Copy the server's and Triton's logs (and the run's error and process-change record)
    out of the data directory, which the run deletes; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    triton_log = server.data_dir / "triton" / "tritonserver.log"
    for source in (server.log_path, triton_log):
        if source.exists():
            shutil.copy2(source, folder / source.name)
    if soak is not None:
        lines = [f"{when} {what}" for when, what in soak.error_details]
        lines += [f"{when} Triton processes: new {new}, gone {gone}" for when, new, gone in soak.triton_changes]
        text = "\n".join(sorted(lines)) if lines else "no failed call, no Triton process started or gone"
        (folder / "soak-events.log").write_text(text + "\n", encoding="utf-8")
    return folder


def report(soak: Soak) -> int:
    print("\n| minute | searches | writes | errors | p50 ms | p99 ms | API server MiB | of it anon / mapped files |"
          " Triton MiB | shard MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for k, m in enumerate(soak.minutes):
        s = latency_summary(m.searches) if m.searches else {"p50_ms": 0, "p99_ms": 0}
        print(f"| {k + 1} | {len(m.searches)} | {m.writes} | {len(m.errors)} | {s['p50_ms']} | {s['p99_ms']} | "
              f"{m.rss_mib.get('api_server', 0):.0f} | {m.rss_mib.get('api_anon', 0):.0f} / {m.rss_mib.get('api_file', 0):.0f} | "
              f"{m.rss_mib.get('triton', 0):.0f} | {m.shard_mib:.0f} |")
    sampled = [m for m in soak.minutes if m.rss_mib]
    errors = [e for m in soak.minutes for e in m.errors]
    print(f"\ncalls: {sum(len(m.searches) + m.writes for m in soak.minutes)}, errors: {len(errors)} "
          f"{sorted(set(errors))}")
    for when, new, gone in soak.triton_changes:
        print(f"Triton processes changed at {when}: new {new}, gone {gone}")
    if len(sampled) >= 2:
        for name in ("api_server", "api_anon", "api_file", "triton"):
            first, last = sampled[0].rss_mib[name], sampled[-1].rss_mib[name]
            print(f"{name} RSS after minute 1 {first:.0f} MiB, at the end {last:.0f} MiB: "
                  f"growth {(last / first - 1) * 100 if first else 0.0:+.1f} % (goal <= +10 %)")
    return 1 if errors else 0


async def _fill(server: ServerProcess, images: list[bytes]) -> None:
    async with AsyncImageSearchClient(server.address, timeout=600) as client:
        await client.create_collection(COLLECTION)
        items = [InsertItem(image=image, id=f"corel-{k}") for k, image in enumerate(images)]
        failed = [o for o in await _collect(client.import_items(COLLECTION, items)) if not o.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} inserts failed while filling: {failed[0]}")


async def _collect(stream) -> list:
    return [outcome async for outcome in stream]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--images", type=int, default=300, help="Corel photos stored before the soak")
    parser.add_argument("--keep-logs", action="store_true", help="keep the logs even when no call failed")
    parser.add_argument("--log-level", default="WARNING", help="the server's log level (INFO logs each index build)")
    parser.add_argument("--logs-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the kept logs' folder goes (default: the temp directory)")
    args = parser.parse_args(argv)
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.soak " + " ".join(argv or sys.argv[1:]))
    images = corel_images(args.images)
    soak: Soak | None = None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        server = ServerProcess(Path(tmp) / "server", metrics_port=0, http_port=0, log_level=args.log_level)
        try:
            with server:
                asyncio.run(_fill(server, images))
                soak = Soak(server, images, args.minutes, args.clients)
                asyncio.run(soak.run())
        finally:
            # After the server stopped (its logs are complete), before the data dir goes.
            failed = soak is None or any(m.errors for m in soak.minutes)
            if failed or args.keep_logs:
                kept = keep_logs(server, soak, args.logs_dir / f"bench-soak-logs-{stamp}")
                print(f"logs kept in {kept}", flush=True)
    return report(soak)


if __name__ == "__main__":
    sys.exit(main())

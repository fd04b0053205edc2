"""What every benchmark shares: machine facts, statistics, tables, JSON results, test
images, server processes and resident-memory sampling."""

from __future__ import annotations

import json
import os
import platform
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# Photos are shared between checkouts and never copied into the repository.
COREL_DIR = REPO_ROOT.parent / "shared" / "datasets" / "corel1k"
COREL_SIZE = 1000
RESULTS_DIR = REPO_ROOT / "bench" / "results"


# -- machine and reproduction ---------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, RAM and load: what a reader needs to compare figures."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        ram_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": round(ram_kb / 2**20, 1),
        # The 1-minute load when the run started: how busy the shared machine was.
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def reproduce_command(argv: Sequence[str]) -> str:
    """The shell command that reruns this benchmark from the repository root."""
    return "PYTHONPATH=server:clients/python python -m bench " + shlex.join(argv)


def print_machine(machine: dict[str, Any], command: str) -> None:
    """Print the machine and the command once, above the tables of a run."""
    print(
        f"machine: {machine['cpu_model']}, {machine['usable_cores']} usable of "
        f"{machine['logical_cores']} cores, {machine['ram_gib']} GiB RAM, "
        f"load {machine['load_average_1m']} at start"
    )
    print(f"command: {command}")


# -- statistics --------------------------------------------------------------------------


def latency_summary(seconds: Iterable[float]) -> dict[str, float]:
    """Count, p50, p99 and mean of latencies given in seconds, reported in milliseconds."""
    values = np.asarray(list(seconds), dtype=np.float64) * 1000.0
    if values.size == 0:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    return {
        "n": int(values.size),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
    }


def median(values: Iterable[float]) -> float:
    """The median of `values` (the figure reported for repeated measurements)."""
    return float(np.median(np.asarray(list(values), dtype=np.float64)))


def goal(name: str, value: float, target: float, higher_is_better: bool) -> dict[str, Any]:
    """A goal of the issue, whether this run met it, and by how much it missed.

    `miss_pct` is how far the value is from the target, relative to the target: the
    figure docs/benchmarks.md quotes when a goal is missed.
    """
    met = value >= target if higher_is_better else value <= target
    miss = 0.0 if met else abs(value - target) / target * 100.0
    return {
        "goal": name,
        "value": round(value, 3),
        "target": target,
        "met": bool(met),
        "miss_pct": round(miss, 1),
    }


# -- output ------------------------------------------------------------------------------


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table: readable in a terminal and pasteable into the docs as is."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(str(h) for h in headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def print_goals(goals: Sequence[dict[str, Any]]) -> None:
    """One line per goal: met, or missed by how much."""
    for g in goals:
        verdict = "met" if g["met"] else f"MISSED by {g['miss_pct']}%"
        print(f"goal {g['goal']}: {g['value']} (target {g['target']}) -> {verdict}")


@dataclass
class Outcome:
    """One benchmark's figures: what a run prints, saves as JSON and puts in the docs.

    `tables` are (title, Markdown table) pairs and `notes` are sentences of diagnosis
    computed from the figures: the report renders both unchanged, so the terminal, the
    JSON and docs/benchmarks.md always say the same thing.
    """

    name: str
    params: dict[str, Any]
    results: dict[str, Any]
    goals: list[dict[str, Any]]
    tables: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)

    def show(self) -> None:
        """Print the tables, the goals and the notes."""
        for title, table in self.tables:
            print(f"\n## {title}\n{table}")
        print_goals(self.goals)
        for note in self.notes:
            print(f"note: {note}")

    def save(self, results_dir: Path, machine: dict[str, Any], command: str) -> Path:
        """Write `<results_dir>/<name>.json` and return its path."""
        results_dir.mkdir(parents=True, exist_ok=True)
        path = results_dir / f"{self.name}.json"
        document = {
            "benchmark": self.name,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine,
            "command": command,
            "params": self.params,
            "results": self.results,
            "goals": self.goals,
            "notes": self.notes,
            "tables": [{"title": title, "markdown": table} for title, table in self.tables],
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


# -- test images --------------------------------------------------------------------------


def corel_images(count: int) -> list[bytes]:
    """`count` Corel-1K JPEGs spread evenly over its ten classes, as encoded bytes."""
    if not COREL_DIR.is_dir():
        raise FileNotFoundError(f"{COREL_DIR} is missing: the benchmarks need the shared Corel-1K photos")
    count = min(count, COREL_SIZE)
    step = COREL_SIZE / count
    return [(COREL_DIR / f"{int(i * step)}.jpg").read_bytes() for i in range(count)]


# -- processes -----------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` in the process tree (from /proc, no psutil here)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name (field 2) may hold spaces; fields after ')' are plain.
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while scanning
        children.setdefault(ppid, []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    return [pid, *descendants(pid)]


def rss_bytes(pid: int) -> int:
    """Resident set size of one process now; 0 if it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_parts(pid: int) -> dict[str, int]:
    """Resident bytes of one process by kind: `anon` (heap, stacks: what a leak grows) and
    `file` + `shmem` (pages of memory-mapped files, e.g. the vector engine's WAL and
    segments: page cache the kernel can drop and read back); empty if it has exited."""
    parts = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                for key, name in (("RssAnon:", "anon"), ("RssFile:", "file"), ("RssShmem:", "shmem")):
                    if line.startswith(key):
                        parts[name] = int(line.split()[1]) * 1024
    except OSError:
        return {}
    return parts


class PeakRssSampler:
    """Samples the summed RSS of named process groups in a thread and keeps each peak.

    A group is a callable returning its pids now, so processes started mid-run (Triton
    restarting, an index-build child) are counted from their first sample on.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]], interval_s: float = 0.2) -> None:
        self._groups = groups
        self._interval_s = interval_s
        self.peaks = {name: 0 for name in groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pids in self._groups.items():
                self.peaks[name] = max(self.peaks[name], sum(rss_bytes(pid) for pid in pids()))
            self._stop.wait(self._interval_s)

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks_mib(self) -> dict[str, float]:
        return {name: round(peak / 2**20, 1) for name, peak in self.peaks.items()}


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by the given processes (exited ones count 0)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each named process group used inside a `with` block.

    On a 2-core machine the client, the API server and Triton share the cores, so CPU
    time per image, by process, says where a request's cost goes better than wall time.
    Groups are callables returning pids; a process must live across the block to count.
    """

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._start: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pids()) for name, pids in self._groups.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = {name: cpu_seconds(pids()) - self._start[name] for name, pids in self._groups.items()}

    def ms_per(self, items: int) -> dict[str, float]:
        """CPU milliseconds per item for each group."""
        return {name: round(seconds * 1000 / max(items, 1), 2) for name, seconds in self.seconds.items()}


def directory_bytes(path: Path) -> int:
    """Bytes on disk under `path` (allocated blocks, as `du` counts them); files and
    directories deleted while it walks (a shard's segments during an index build) are
    skipped."""
    total = 0
    for root, _, files in os.walk(path):  # os.walk ignores directories that vanish
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                continue
    return total

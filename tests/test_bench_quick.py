"""The benchmark suite's quick mode runs end to end (no speed is asserted: CI machines are
noisy) and leaves one JSON result per benchmark with the keys the report reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK_TIMEOUT_S = 600
EXPECTED = {
    "ingest": {"median_images_per_s", "ratio", "cpu_ms_per_image"},
    "query": {"server_1_client", "server_8_clients", "in_process", "p50_ratio_1_client"},
    "memory": {"ingest", "query"},
    "batching": {"on_searches_per_s", "off_searches_per_s", "ratio"},
    "store_scaling": {"sizes"},
    "build_contention": {"sizes"},
}
DOCUMENT_KEYS = {"benchmark", "machine", "command", "params", "results", "goals", "notes", "tables"}


def test_bench_all_quick(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "server"), str(REPO_ROOT / "clients" / "python"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=QUICK_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    for name, result_keys in EXPECTED.items():
        document = json.loads((tmp_path / f"{name}.json").read_text())
        assert DOCUMENT_KEYS <= document.keys(), name
        assert result_keys <= document["results"].keys(), name
        assert document["machine"]["logical_cores"] >= 1
        for g in document["goals"]:
            assert {"goal", "value", "target", "met", "miss_pct"} <= g.keys()

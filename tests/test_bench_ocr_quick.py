"""bench/ocr.py's quick mode runs end to end and writes the keys docs/ocr.md quotes (no speed asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT


def test_bench_ocr_quick(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "server"), str(REPO_ROOT / "clients" / "python"), str(REPO_ROOT)])
    completed = subprocess.run(
        [sys.executable, "-m", "bench.ocr", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    saved = json.loads((tmp_path / "ocr.json").read_text())
    assert saved["benchmark"] == "ocr" and saved["command"].startswith("PYTHONPATH=")  # python -m bench report's form
    document = saved["results"]
    assert {"encoder", "ocr_no_text", "ocr_text"} <= document["reading"]["median_ms"].keys()
    assert {"chunk_1_ms_per_image", "chunk_8_ms_per_image", "chunk_64_ms_per_image"} <= document["recognition_batching"].keys()
    (queries,) = document["text_queries"]
    assert queries["size"] == 2000 and queries["latency"]["4-char part"]["found"] == "20/20"
    assert queries["latency"]["absent"]["found"] == "0/20"

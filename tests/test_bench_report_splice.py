"""bench/report.py's splice_section: one benchmark's section replaced in (or appended to) an
existing docs/benchmarks.md without touching the rest (bench/faces.py --docs)."""

from __future__ import annotations

from pathlib import Path

from bench.report import splice_section


def document(value: str) -> dict:
    return {
        "benchmark": "faces", "command": "python -m bench.faces", "finished_at": "now", "params": {},
        "machine": {"load_average_1m": 1.0}, "tables": [{"title": "t", "markdown": f"| a |\n| --- |\n| {value} |"}],
        "notes": [f"note {value}"],
    }


def test_splice_appends_then_replaces_only_its_own_section(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## ingest\n\ningest figures\n\n## memory\n\nmemory figures\n")
    splice_section(docs, document("1"))
    first = docs.read_text()
    assert first.startswith("# Benchmarks\n\n## ingest\n\ningest figures\n\n## memory\n\nmemory figures\n")
    assert first.count("## faces") == 1 and "| 1 |" in first and "- note 1" in first
    docs.write_text(first + "\n## later\n\nlater figures\n")  # a section after it must survive
    splice_section(docs, document("2"))
    second = docs.read_text()
    assert second.count("## faces") == 1 and "| 2 |" in second and "| 1 |" not in second
    assert "memory figures" in second and second.rstrip().endswith("later figures")

"""The README's grpcurl examples run as written (against the test server's address)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, ServerProcess, corel_path

README_ADDRESS = "127.0.0.1:50051"


def readme_block(heading: str, level: str = "##") -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(f"{level} {heading}\n", 1)[1].split(f"\n{level} ", 1)[0]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block under '## {heading}'"
    return match.group(1)


def test_grpcurl_examples(server: ServerProcess) -> None:
    script = "set -euo pipefail\n" + readme_block("grpcurl").replace(README_ADDRESS, server.address)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "imagesearch.v1.ImageSearch" in out.stdout and '"status": "SERVING"' in out.stdout
    assert '"id": "bus-300"' in out.stdout and '"rank": 1' in out.stdout
    assert '"count": "1"' in out.stdout
    assert out.stdout.count('"id": "bus-300"') >= 3  # insert, image search, text search


def test_catalog_hygiene_examples(server: ServerProcess, tmp_path: Path) -> None:
    """The Duplicates and NSFW blocks, run in a folder holding the files they name."""
    (tmp_path / "catalog").mkdir()
    for name, index in (("photo.jpg", 300), ("query.jpg", 301), ("catalog/a.jpg", 500), ("catalog/b.jpg", 300)):
        (tmp_path / name).write_bytes(corel_path(index).read_bytes())
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "IMAGESEARCH_SERVER": server.address,
    }
    outputs = {}
    for heading in ("Duplicates", "NSFW moderation"):
        # The quick start created "photos" before these examples.
        setup = "imagesearch collections create photos\n" if heading == "Duplicates" else ""
        block = readme_block(heading, "###").replace(README_ADDRESS, server.address)
        out = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + setup + block],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
        )
        assert out.returncode == 0, heading + ": " + out.stderr
        outputs[heading] = out.stdout
    duplicates = outputs["Duplicates"]
    assert "sku-1" in duplicates and '"skipped": true' in duplicates
    assert "b.jpg" in duplicates  # the bulk-loaded copy of photo.jpg, found by FindDuplicates
    moderation = outputs["NSFW moderation"]
    assert "threshold 0.8" in moderation
    assert re.search(r'"(skipNsfwScoring|skip_nsfw_scoring)": true', moderation)

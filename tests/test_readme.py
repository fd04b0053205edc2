"""The README's grpcurl examples run as written (against the test server's address)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, ServerProcess

README_ADDRESS = "127.0.0.1:50051"


def readme_block(heading: str) -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
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

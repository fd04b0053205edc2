"""docs/ocr.md's library example runs as written (real qdrant-edge engine, no Triton)."""

from __future__ import annotations

import re

from conftest import REPO_ROOT


def test_library_example_runs() -> None:
    section = (REPO_ROOT / "docs" / "ocr.md").read_text().split("### Library example\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "no python block under '### Library example'"
    exec(compile(code.group(1), "docs/ocr.md", "exec"), {"__name__": "docs_example"})

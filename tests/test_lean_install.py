"""The serving install carries no torch (issue 11): torch and the weight packages live in the
export venv (.venv-export), which only `make model` and the export tests use.

`make test` runs this module in the runtime venv with IMAGESEARCH_LEAN_VENV=1; then torch must
not even be installed. Elsewhere (a venv with the export extras) only the import check runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

EXPORT_ONLY = ("torch", "torchvision", "transformers", "open_clip", "onnx", "safetensors")

# Everything `imagesearch serve` and the clients load, including the CLI and the launchers.
SERVING_MODULES = (
    "imagesearch.cli",
    "imagesearch.app",
    "imagesearch.launcher.triton",
    "imagesearch.launcher.api_server",
    "imagesearch.models.setup",  # `make model`'s up-to-date check runs in the runtime venv
    "imagesearch_client",
)


def test_serving_code_imports_no_export_package() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {SERVING_MODULES!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {EXPORT_ONLY!r})))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT / "server"), str(REPO_ROOT / "clients" / "python"), env.get("PYTHONPATH")) if p
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.skipif(not os.environ.get("IMAGESEARCH_LEAN_VENV"), reason="set by `make test` for the runtime venv only")
def test_runtime_venv_has_no_torch() -> None:
    present = [name for name in EXPORT_ONLY if importlib.util.find_spec(name) is not None]
    assert present == [], f"{sys.prefix} holds export-only packages: {present}"

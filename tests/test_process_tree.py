"""Triton must not outlive `imagesearch serve`: after kill -9 of the server, its tritonserver
and the Python-backend stubs are gone within seconds (issue 11; PR_SET_PDEATHSIG in
launcher/triton.py), and its model control is closed. Real server, real Triton, real SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tritonclient.grpc import InferenceServerClient
from tritonclient.utils import InferenceServerException

from conftest import ServerProcess

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process tree from /proc (Linux)")

GONE_WITHIN_S = 5.0


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a live process, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    state, ppid, pgid = fields[0], int(fields[1]), int(fields[2])
    return None if state in ("Z", "X") else (state, ppid, pgid)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _children(pid: int) -> list[int]:
    return [p for p in _all_pids() if (s := _stat(p)) is not None and s[1] == pid]


def _exe_name(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if _stat(p) is not None]


def test_triton_and_its_stubs_die_with_a_killed_server(tmp_path: Path):
    server = ServerProcess(tmp_path / "server").start()
    triton = None
    try:
        tritons = [p for p in _children(server.process.pid) if _exe_name(p) == "tritonserver"]
        assert len(tritons) == 1, f"expected one tritonserver child of {server.process.pid}, got {tritons}"
        triton = tritons[0]
        stubs = [p for p in _children(triton) if _exe_name(p) == "triton_python_backend_stub"]
        # image_embedding, text_embedding and nsfw each run in a stub of their own.
        assert len(stubs) >= 3, f"Python-backend stubs of {triton}: {stubs}"
        # Hole 10 of issue 10: the local Triton refuses model control to callers without its key.
        triton_client = InferenceServerClient(server.triton_url)
        with pytest.raises(InferenceServerException, match="restricted"):
            triton_client.unload_model("nsfw")
        with pytest.raises(InferenceServerException, match="restricted"):
            triton_client.get_model_repository_index()
        assert triton_client.is_model_ready("nsfw")
        triton_client.close()
        group = [p for p in _all_pids() if (s := _stat(p)) is not None and s[2] == triton]

        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        deadline = time.monotonic() + GONE_WITHIN_S
        while _alive([triton, *stubs, *group]) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = {p: _exe_name(p) for p in _alive([triton, *stubs, *group])}
        assert not left, f"still running {GONE_WITHIN_S:.0f} s after kill -9 of the server: {left}"
    finally:
        server.stop()
        if triton is not None and _stat(triton) is not None:
            # This test's orphans, when the assertion above failed: Triton leads their group.
            os.killpg(triton, signal.SIGKILL)

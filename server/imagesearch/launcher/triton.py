"""Run the tritonserver binary that ships inside the nvidia-pytriton wheel as a child process."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import secrets
import signal
import socket
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from imagesearch.child_env import scrubbed_environment

LOG_FILE_NAME = "tritonserver.log"
LOG_READ_BYTES = 256 * 1024
LOG_TAIL_LINES = 20
POLL_INTERVAL_S = 0.25
# Triton's APIs that change or expose the server beyond inference: model load/unload and the
# repository index, shared-memory registration, trace and log settings. imagesearch uses none
# of them, so they are locked behind a header whose value is a random key made per start
# (issue 10, hole 10). Triton listens on 127.0.0.1 only; the key keeps out what can reach that
# address without seeing this host's process list (a container sharing the network namespace);
# a local user who can read Triton's command line can read the key.
RESTRICTED_APIS = "model-repository,shared-memory,trace,logging"
ADMIN_HEADER = "imagesearch-triton-admin"
# The insert pipeline (model_repository/image_analysis) runs the networks of these models from
# their files: it is loaded whenever both are and the repository has it.
PIPELINE_MODEL = "image_analysis"
PIPELINE_NEEDS = ("image_embedding", "nsfw")
# linux/prctl.h: deliver a signal to this process when its parent thread exits.
PR_SET_PDEATHSIG = 1


class TritonStartError(RuntimeError):
    """Triton exited or did not become ready; the message ends with the tail of its log."""


@dataclass(frozen=True)
class TritonLaunchConfig:
    """Where Triton finds its models, where it listens (127.0.0.1 only) and where it writes."""

    model_repository: Path
    grpc_port: int
    http_port: int
    metrics_port: int
    work_dir: Path
    models: tuple[str, ...] = ("image_embedding", "nsfw")


@dataclass(frozen=True)
class TritonInstallation:
    """The files of the pytriton wheel that running its tritonserver needs."""

    binary: Path
    python_backend: Path
    python_stub: Path

    @classmethod
    def find(cls) -> TritonInstallation:
        """Locate the binary, the Python backend and the stub for this interpreter's version."""
        spec = importlib.util.find_spec("pytriton")
        if spec is None or spec.origin is None:
            raise TritonStartError(
                "the nvidia-pytriton package is not installed: pip install 'imagesearch[local-triton]' "
                "to run a local Triton, or set triton_url to an external one"
            )
        root = Path(spec.origin).parent / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        found = cls(
            binary=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            python_stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
        )
        for path in (found.binary, found.python_backend, found.python_stub):
            if not path.exists():
                raise TritonStartError(f"{path} is missing from the nvidia-pytriton package")
        return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (racy, fine for tests and dev)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TritonProcess:
    """One tritonserver child process: start it, wait until its models are ready, stop it."""

    def __init__(self, config: TritonLaunchConfig) -> None:
        self._config = config
        self._models = with_pipeline(config.models, Path(config.model_repository))
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """The gRPC address clients connect to."""
        return f"127.0.0.1:{self._config.grpc_port}"

    @property
    def log_path(self) -> Path:
        """The file Triton's stdout and stderr go to."""
        return Path(self._config.work_dir) / LOG_FILE_NAME

    @property
    def pid(self) -> int | None:
        """The process id once started; it is also the id of Triton's own process group."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        """True from start() until the process exits."""
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited, else None."""
        return self._process.returncode if self._process else None

    async def start(self) -> None:
        """Launch tritonserver (again, if it exited); returns at once, call wait_ready() next."""
        if self.running:
            raise RuntimeError("tritonserver is already running")
        installation = TritonInstallation.find()
        # Absolute: Triton runs with work_dir as its cwd, where a relative path would dangle.
        work_dir = Path(self._config.work_dir).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        backend_dir = _link_backend_directory(installation, work_dir / "backends")
        with open(self.log_path, "ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                str(installation.binary),
                *self._arguments(backend_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=_environment(),
                cwd=str(work_dir),
                # Own process group: a Ctrl-C in the terminal reaches only the parent, which
                # then stops Triton with stop() so in-flight requests drain first.
                start_new_session=True,
                # ... and a parent killed without that chance (kill -9, OOM killer) takes
                # Triton with it, so a restart never finds an orphan holding the GPU and ports.
                preexec_fn=die_with_parent(),
            )

    async def wait_ready(self, timeout_s: float) -> None:
        """Poll until the server and every configured model are ready.

        Raises TritonStartError with the tail of Triton's log if the process exits, a
        model failed to load, or the server does not answer within `timeout_s`.
        """
        if self._process is None:
            raise RuntimeError("start() was not called")
        deadline = time.monotonic() + timeout_s
        client = InferenceServerClient(self.url)
        try:
            while True:
                if self._process.returncode is not None:
                    raise TritonStartError(
                        f"tritonserver exited with code {self._process.returncode}\n"
                        + self._log_tail()
                    )
                not_ready = await self._models_not_ready(client)
                if not_ready == []:
                    return
                if not_ready:
                    raise TritonStartError(
                        f"models {not_ready} failed to load\n" + self._log_tail()
                    )
                if time.monotonic() >= deadline:
                    raise TritonStartError(
                        f"tritonserver not ready after {timeout_s:.0f} s\n" + self._log_tail()
                    )
                await asyncio.sleep(POLL_INTERVAL_S)
        finally:
            await client.close()

    async def stop(self, grace_s: float = 15) -> None:
        """SIGTERM the process group (Triton drains in-flight requests), SIGKILL after grace_s."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=grace_s)
            except asyncio.TimeoutError:
                _signal_group(process.pid, signal.SIGKILL)
                await process.wait()
        # Python-backend stubs share the group; one orphaned by a crash must not linger.
        _signal_group(process.pid, signal.SIGKILL)

    async def _models_not_ready(self, client: InferenceServerClient) -> list[str] | None:
        """None while the server does not answer yet, else the models that are not ready.

        Triton loads the --load-model models before it opens its endpoints, so once it
        answers at all, a model that is not ready has failed and will not recover.
        """
        try:
            if not await client.is_server_live():
                return None
            return [m for m in self._models if not await client.is_model_ready(m)]
        except InferenceServerException:
            # Connection refused while the gRPC endpoint is not yet listening.
            return None

    def _arguments(self, backend_dir: Path) -> list[str]:
        config = self._config
        admin_key = secrets.token_hex(32)
        return [
            f"--model-repository={Path(config.model_repository).resolve()}",
            f"--backend-directory={backend_dir}",
            "--model-control-mode=explicit",
            *(f"--load-model={model}" for model in self._models),
            # Start even if one model fails, so wait_ready() can report which one and why.
            "--exit-on-error=false",
            "--strict-readiness=true",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={config.grpc_port}",
            "--http-address=127.0.0.1",
            f"--http-port={config.http_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={config.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--grpc-restricted-protocol={RESTRICTED_APIS}:{ADMIN_HEADER}={admin_key}",
            f"--http-restricted-api={RESTRICTED_APIS}:{ADMIN_HEADER}={admin_key}",
        ]

    def _log_tail(self) -> str:
        """Triton's error lines and its last lines, without its wide ASCII tables.

        The tables (options, backends, models) are several kilobytes of padding, and the
        reason a model failed is an error line logged long before the end.
        """
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_READ_BYTES))
                text = log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no log at {self.log_path}: {exc})"
        lines = [line for line in text.splitlines() if line and line[0] not in "|+"]
        errors = [line for line in lines if line.startswith("E")]
        return "\n".join(
            [f"--- {self.log_path}: errors ---", *errors[-LOG_TAIL_LINES:],
             "--- last lines ---", *lines[-LOG_TAIL_LINES:]]
        )


def _link_backend_directory(installation: TritonInstallation, backends: Path) -> Path:
    """Build backends/python/ from links, the layout --backend-directory expects.

    The wheel keeps the stub apart from the backend library, one stub per Python version,
    so the directory Triton wants does not exist in it as such.
    """
    python_dir = backends / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    links = {
        "libtriton_python.so": installation.python_backend / "libtriton_python.so",
        "triton_python_backend_utils.py": installation.python_backend
        / "triton_python_backend_utils.py",
        "triton_python_backend_stub": installation.python_stub,
    }
    for name, target in links.items():
        link = python_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return backends


def with_pipeline(models: tuple[str, ...], repository: Path) -> tuple[str, ...]:
    """`models`, plus the insert pipeline where it can run (its sibling models are loaded)."""
    if PIPELINE_MODEL in models or not set(PIPELINE_NEEDS) <= set(models):
        return models
    if not (repository / PIPELINE_MODEL / "config.pbtxt").exists():
        return models
    return (*models, PIPELINE_MODEL)


def _environment() -> dict[str, str]:
    """This process's environment without its secrets (child_env.py: Triton and the model
    code it runs need no credential), with PATH and LD_LIBRARY_PATH fixed for the Python stub.

    The stub runs Python in isolated mode and finds packages through the `python3` first on
    PATH, so this interpreter's bin directory (the virtual environment) goes first. It
    also links libpython dynamically: this interpreter's own LIBDIR goes first, or another
    patch release's libpython is loaded and models fail to load.
    """
    env = scrubbed_environment()
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", "")]
    ).rstrip(os.pathsep)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        part for part in (libdir, env.get("LD_LIBRARY_PATH", "")) if part
    )
    # NumPy's OpenBLAS starts a thread per core that spins (sched_yield) between calls: in
    # the image_embedding stub that was 16% of its samples (py-spy, Corel ingest) on cores
    # ONNX Runtime's own threads need. The models' NumPy work is small; one thread suffices.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `signum` when this process dies (Linux).

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits: Triton is started
    from the event loop's thread, which lives as long as the server. SIGKILL rather than
    SIGTERM: nobody is left to escalate if Triton's own drain hangs; its Python-backend
    stubs watch their parent and exit within a second of it (tests/test_process_tree.py).
    Returns None where prctl does not exist (the child then outlives a killed parent).
    """
    if not sys.platform.startswith("linux"):
        return None
    # Resolved here, in the parent: between fork and exec the child must not load libraries.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        if prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            os._exit(126)
        # The parent may have died between fork and prctl: then no signal will ever come.
        if os.getppid() != parent:
            os._exit(0)

    return arm


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass

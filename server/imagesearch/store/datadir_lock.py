"""One server per data directory: an fcntl lock on <data_dir>/imagesearch.lock.

Start-up recovery deletes directories (half-created collections, shard copies of index
builds, the previous shard of a swap). A second server on the same data directory used to
run that recovery first and only then hit qdrant-edge's own lock on the shard, by which
time it had deleted the first server's running index build (issue 10). So the lock is
taken before anything else looks at the directory, and held until the store closes (for a
server: the process lifetime). flock() locks die with their process, so a crashed server
never leaves a stale lock; the pid written into the file only names the holder in the
error a second process gets.

Within one process the lock is shared and counted: the server takes it at start (before
Triton writes its work files under the data directory) and the embedded store takes it
again when it opens; a second flock() on another descriptor of the same file would
conflict with the first even inside one process.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from imagesearch.store.base import StoreError

LOCK_FILE_NAME = "imagesearch.lock"


class DataDirLocked(StoreError):
    """Another process holds the data directory; the message names its pid."""


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


@dataclass(frozen=True)
class DataDirLock:
    """A claim on one data directory; release() it once (the last release unlocks)."""

    path: Path

    @classmethod
    def acquire(cls, data_dir: Path) -> "DataDirLock":
        """Lock `data_dir` (created if missing) for this process; DataDirLocked if another
        process holds it."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = (data_dir / LOCK_FILE_NAME).resolve()
        with _guard:
            held = _held.get(path)
            if held is not None:
                held.count += 1
                return cls(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise DataDirLocked(
                    f"data directory {data_dir} is in use by another imagesearch process "
                    f"(pid {holder or 'unknown'}, lock file {path}); stop that server first, "
                    "or give this one another data directory"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _held[path] = _Held(fd, 1)
        return cls(path)

    def release(self) -> None:
        """Give the claim back; the file is unlocked when the last claim in the process goes."""
        with _guard:
            held = _held.get(self.path)
            if held is None:
                return
            held.count -= 1
            if held.count == 0:
                del _held[self.path]
                # Closing the descriptor drops the flock; the file stays (unlinking it would
                # let two processes lock two different inodes of the same name).
                os.close(held.fd)


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""

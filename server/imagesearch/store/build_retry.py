"""When a collection's next automatic index build may start after failed ones.

Each build copies the whole shard before its child process starts; a build that fails
(child killed by the OOM killer, disk full, journal overflow) used to be retried by the
very next insert, copying the shard again and again (issue 10). Failures now push the
next automatic try back exponentially: base, 2x base, 4x base, ... up to a cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class BuildBackoff:
    """Consecutive failures and the earliest next try, per collection."""

    base_s: float
    max_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, int] = field(default_factory=dict)
    _not_before: dict[str, float] = field(default_factory=dict)

    def allows(self, name: str) -> bool:
        """Whether an automatic build of `name` may start now."""
        return self.clock() >= self._not_before.get(name, float("-inf"))

    def failed(self, name: str) -> float:
        """Record a failed build; returns the pause before the next automatic one, in s."""
        failures = self._failures.get(name, 0) + 1
        self._failures[name] = failures
        delay = min(self.base_s * 2 ** (failures - 1), self.max_s)
        self._not_before[name] = self.clock() + delay
        return delay

    def succeeded(self, name: str) -> None:
        """A build worked: the next failure starts from the base pause again."""
        self.forget(name)

    def forget(self, name: str) -> None:
        """Drop what is known of `name` (deleted collection)."""
        self._failures.pop(name, None)
        self._not_before.pop(name, None)

"""Creating and loading shards with a small write-ahead log.

qdrant-edge maps its WAL's segment files into the process and keeps them mapped: every
page written stays resident (RSS) until the segment is deleted, and a load reads every
segment whole (checksums), so a freshly swapped-in shard starts with all of its WAL
resident. The engine's default segment is 32 MiB and one closed segment is retained after
a flush, so the WAL of a collection written at the soak's pace (~400 replacements of
~23 KB points a minute) held a 32 MiB closed segment, a filling 32 MiB open one and, on
disk, a pre-created next one: measured with `python -m bench.store_rss --writes 5000`,
the live shard's mapped WAL pages climbed 13 -> 62 MiB across index builds (each build
copies the WAL, the new shard's load maps it whole) while its segments stayed at 16-31
MiB, and the shard on disk reached 96 MiB of WAL: the API server's growth in minutes
5-10 of the 10-minute soak (docs/benchmarks.md).

The segment capacity is not in EdgeConfig's constructor but is part of the configuration
the engine persists (`wal_options` in edge_config.json, the engine's WalOptions: segment
capacity, segments created ahead, closed segments retained), read at every load and kept
when a load is given a config. So shards are created with it written there, and existing
shards get it at their next load: their current segment drains at the old size, the
following ones are small. An entry larger than a segment gets a segment of its own size
(measured: a 6 MiB batch in 4 MiB segments), so the capacity bounds nothing but the WAL.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from qdrant_edge import EdgeConfig, EdgeShard

from imagesearch.store.shard_config import EDGE_CONFIG_FILE

# 4 MiB segments (~180 offline-set points each), no segment created ahead, one closed
# segment retained: with the live shard flushed every few MiB written (collection.py), its
# WAL stays under ~3 segments, ~12 MiB, mapped or on disk, instead of up to 96 MiB.
WAL_OPTIONS = {"segment_capacity": 4 << 20, "segment_queue_len": 0, "retain_closed": 1}
WAL_DIR = "wal"


def create_shard(path: Path, config: EdgeConfig) -> EdgeShard:
    """A new, empty shard at `path` whose WAL has WAL_OPTIONS' segments.

    The engine creates the first WAL segment at its default size when the shard is
    created, so the empty WAL is removed and the shard loaded again with the options
    recorded (a load creates a missing WAL; the shard has no operation to lose yet)."""
    EdgeShard.create(str(path), config).close()
    set_wal_options(path)
    shutil.rmtree(path / WAL_DIR)
    return EdgeShard.load(str(path))


def load_shard(path: Path, config: EdgeConfig | None = None) -> EdgeShard:
    """Load the shard at `path` (with `config`, as EdgeShard.load), recording WAL_OPTIONS
    first when it lacks them (a shard of an earlier version)."""
    set_wal_options(path)
    return EdgeShard.load(str(path), config)


def set_wal_options(path: Path) -> bool:
    """Write WAL_OPTIONS into the shard's persisted config unless they are there; returns
    whether it wrote (atomically: temp file, rename)."""
    config_file = path / EDGE_CONFIG_FILE
    persisted = json.loads(config_file.read_text(encoding="utf-8"))
    if persisted.get("wal_options") == WAL_OPTIONS:
        return False
    persisted["wal_options"] = WAL_OPTIONS
    tmp = config_file.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(persisted, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, config_file)
    return True

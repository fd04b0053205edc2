"""`imagesearch snapshot` (commands/snapshot.py) against a real embedded data dir."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import numpy as np

from imagesearch.commands import snapshot
from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore

SET = ModelSetRecord("s", (SpaceRecord("v", ModelRecord("m", "1", 8)),))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="imagesearch")
    snapshot.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["snapshot", *argv])


async def fill(data_dir: Path) -> None:
    store = EdgeStore(data_dir)
    await store.create_collection("photos", SET)
    rng = np.random.default_rng(0)
    await store.upsert("photos", [PointToStore(id=f"p{i}", vectors={"v": rng.standard_normal(8)}) for i in range(40)])
    await store.close()


async def count(data_dir: Path, name: str) -> int:
    store = EdgeStore(data_dir)
    try:
        return await store.count(name)
    finally:
        await store.close()


def test_create_list_restore_delete(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    asyncio.run(fill(src))
    assert snapshot.run(parse("create", "photos", "--data-dir", str(src))) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("photos/photos-") and "40 items" in line
    name = line.split("\t")[0].split("/")[1]
    assert snapshot.run(parse("list", "--data-dir", str(src))) == 0
    assert name in capsys.readouterr().out
    file = src / "snapshots" / "photos" / f"{name}.snapshot"
    # Without --no-model-check an offline restore refuses to guess.
    try:
        snapshot.run(parse("restore", "--file", str(file), "--data-dir", str(dst)))
        raise AssertionError("restore without --no-model-check should exit")
    except SystemExit as stop:
        assert "--no-model-check" in str(stop)
    args = parse("restore", "--file", str(file), "--data-dir", str(dst), "--as", "copy", "--no-model-check")
    assert snapshot.run(args) == 0
    assert "restored copy: 40 items" in capsys.readouterr().out
    assert asyncio.run(count(dst, "copy")) == 40
    # An existing name is a store error: exit code 1 and a message, nothing changed.
    assert snapshot.run(args) == 1
    assert "already exists" in capsys.readouterr().err
    assert snapshot.run(parse("delete", "photos", name, "--data-dir", str(src))) == 0
    assert snapshot.run(parse("delete", "photos", name, "--data-dir", str(src))) == 1
    assert "does not exist" in capsys.readouterr().err


def test_help_describes_the_actions() -> None:
    parser = argparse.ArgumentParser(prog="imagesearch")
    snapshot.add_parser(parser.add_subparsers(dest="command"))
    try:
        parser.parse_args(["snapshot", "--help"])
    except SystemExit:
        pass
    assert "restore" in snapshot.__doc__ and "--no-model-check" in snapshot.__doc__

"""End to end with real server processes (local Triton, embedded engine): photos inserted
through a server, the stopped server's collection snapshotted with `imagesearch snapshot`,
restored into a fresh data dir, and a second server on that dir answers every search the
same. (Snapshots of a *serving* server go through the admin RPCs; the concurrent-inserts
case is tested at the store level in test_store_snapshots.py.)"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from conftest import ServerProcess, corel_items, corel_path
from imagesearch.commands import snapshot

PHOTOS = [i for c in range(10) for i in range(c * 100, c * 100 + 6)]  # 6 of each Corel class
QUERIES = [7, 150, 333, 480, 912]


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="imagesearch")
    snapshot.add_parser(parser.add_subparsers(dest="command"))
    return snapshot.run(parser.parse_args(["snapshot", *argv]))


def searches(server: ServerProcess) -> dict[int, list[tuple[str, float, dict]]]:
    with server.client() as client:
        return {q: [(h.id, h.score, h.metadata) for h in client.search("corel", corel_path(q).read_bytes(), top_k=10)]
                for q in QUERIES}


def test_restored_collection_answers_like_the_original(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    with ServerProcess(src) as server:
        with server.client() as client:
            client.create_collection("corel")
            outcomes = list(client.import_items("corel", corel_items(PHOTOS), timeout=600))
        assert all(o.ok for o in outcomes)
        before = searches(server)
    assert cli("create", "corel", "--data-dir", str(src)) == 0
    location = capsys.readouterr().out.strip().split("\t")[-1]
    assert cli("restore", "--file", location, "--data-dir", str(dst), "--no-model-check") == 0
    assert f"restored corel: {len(PHOTOS)} items" in capsys.readouterr().out
    with ServerProcess(dst) as restored:
        with restored.client() as client:
            assert client.count_items("corel") == len(PHOTOS)
            items = {i.id: i for i in client.batch_get_items("corel", [f"corel-{i}" for i in PHOTOS])}
            assert set(items) == {f"corel-{i}" for i in PHOTOS}
            assert all(items[f"corel-{i}"].metadata == {"class": i // 100, "file": f"{i}.jpg"} for i in PHOTOS)
        after = searches(restored)
    for q in QUERIES:
        assert [h[0] for h in after[q]] == [h[0] for h in before[q]]
        assert [h[1] for h in after[q]] == pytest.approx([h[1] for h in before[q]], abs=1e-6)
        assert [h[2] for h in after[q]] == [h[2] for h in before[q]]

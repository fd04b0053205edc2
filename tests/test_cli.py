"""The `imagesearch` command against the running server, as a person would use it."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch.cli import build_parser

CLASS_FILTER = '{"must": [{"match": {"key": "kind", "keyword": "%s"}}]}'


def cli(*args: str, server: ServerProcess | None = None) -> subprocess.CompletedProcess:
    extra = ["--server", server.address] if server else []
    return subprocess.run(
        [sys.executable, "-m", "imagesearch.cli", *args, *extra], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )


def ok(*args: str, server: ServerProcess) -> str:
    """stdout of a command that must succeed."""
    out = cli(*args, server=server)
    assert out.returncode == 0, f"{args}: {out.stderr}"
    return out.stdout


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every runnable subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _leaf_parsers(child, (*path, name))


def test_help_lists_commands() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in ("serve", "models", "collections", "insert", "index", "items", "search", "find-duplicates", "moderate",
                    "read-text", "detect-faces", "snapshot"):
        assert f"    {command}" in out.stdout
    serve_help = cli("serve", "--help").stdout
    assert "--triton-url" in serve_help and "IMAGESEARCH_QDRANT_URL" in serve_help
    items_help = cli("items", "--help").stdout
    for action in ("get", "list", "count", "update", "delete", "purge"):
        assert f"    {action}" in items_help


def test_every_command_and_option_is_explained() -> None:
    leaves = dict(_leaf_parsers(build_parser()))
    assert ("items", "purge") in leaves and ("collections", "update") in leaves and ("serve",) in leaves
    undocumented = [
        f"{' '.join(path)} {action.option_strings or action.dest}"
        for path, parser in leaves.items()
        for action in parser._actions
        if not action.help
    ]
    assert not undocumented, undocumented


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, server: ServerProcess) -> str:
    """Collection cli-photos, indexed from a folder through the CLI (one broken file in it)."""
    folder = tmp_path_factory.mktemp("cli") / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in (100, 101, 102, 900, 901):
        (folder / f"{i}.jpg").symlink_to(corel_path(i))
    (folder / "sub" / "903.jpg").symlink_to(corel_path(903))
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image suffix")

    out = cli("index", str(folder), "-c", "cli-photos", "--create", "--recursive", server=server)
    assert out.returncode == 1, out.stderr  # one file failed
    assert "indexed 6 of 7 images into cli-photos" in out.stdout
    assert "broken.jpg: INVALID_ARGUMENT (IMAGE_UNDECODABLE)" in out.stderr
    assert "indexing into cli-photos" in out.stderr  # the progress bar
    return "cli-photos"


def test_index_folder_and_search(photos: str, server: ServerProcess) -> None:
    hits = json.loads(ok("search", str(corel_path(901)), "-c", photos, "-k", "3", "--json", server=server))
    assert hits[0]["id"] == "901.jpg" and hits[0]["metadata"] == {"path": "901.jpg"}
    assert len(hits) == 3 and [h["rank"] for h in hits] == [1, 2, 3]

    hits = json.loads(ok("search", "--text", "a plate of food", "-c", photos, "-k", "3", "--json", server=server))
    assert sorted(h["id"] for h in hits) == ["900.jpg", "901.jpg", "sub/903.jpg"]

    # More like a stored item whose ID holds a '/': the CLI encodes it into the resource name.
    hits = json.loads(ok("search", "--item", "sub/903.jpg", "-c", photos, "-k", "2", "--json", server=server))
    assert len(hits) == 2 and "sub/903.jpg" not in [h["id"] for h in hits]
    assert hits[0]["id"] in ("900.jpg", "901.jpg")  # another food photo first
    hits = json.loads(ok("search", "--item", "sub/903.jpg", "--include-query-item", "-c", photos, "-k", "1",
                         "--json", server=server))
    assert hits[0]["id"] == "sub/903.jpg" and hits[0]["score"] > 0.99

    listing = ok("collections", "list", server=server)
    assert f"{photos}\t6 items\tmodel set offline" in listing


def test_items_commands(photos: str, server: ServerProcess) -> None:
    c = ("-c", photos)
    assert ok("items", "count", *c, server=server).strip() == "6"
    assert ok("items", "get", "sub/903.jpg", *c, server=server).startswith('sub/903.jpg\t0.')

    # Pages: two at a time; the token for the next page goes to stderr.
    first = cli("items", "list", *c, "--page-size", "2", server=server)
    assert first.returncode == 0 and len(first.stdout.splitlines()) == 2
    token = first.stderr.split("--page-token ", 1)[1].split()[0]
    second = ok("items", "list", *c, "--page-size", "2", "--page-token", token, server=server)
    assert not set(first.stdout.splitlines()) & set(second.splitlines())
    everything = [json.loads(line) for line in ok("items", "list", *c, "--page-size", "2", "--all", "--json",
                                                  server=server).splitlines()]
    assert sorted(i["id"] for i in everything) == ["100.jpg", "101.jpg", "102.jpg", "900.jpg", "901.jpg", "sub/903.jpg"]

    # Metadata: single keys, then all of it; filters see the change.
    for i in ("100.jpg", "101.jpg"):
        ok("items", "update", i, *c, "--set", "kind=beach", "--set", "rank=2", server=server)
    item = json.loads(ok("items", "update", "101.jpg", *c, "--unset", "rank", "--json", server=server))
    assert item["metadata"] == {"path": "101.jpg", "kind": "beach"}
    ok("items", "update", "900.jpg", *c, "--metadata", '{"kind": "food"}', server=server)
    assert ok("items", "count", *c, "--filter", CLASS_FILTER % "beach", server=server).strip() == "2"
    beach = ok("items", "list", *c, "--filter", CLASS_FILTER % "beach", server=server).splitlines()
    assert sorted(line.split("\t")[0] for line in beach) == ["100.jpg", "101.jpg"]

    found = cli("items", "get", "100.jpg", "nope.jpg", "--allow-missing", *c, "--json", server=server)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["missing"] == ["nope.jpg"]

    # Purge: a dry run by default, which deletes nothing.
    dry = cli("items", "purge", *c, "--filter", CLASS_FILTER % "beach", server=server)
    assert dry.returncode == 0 and dry.stdout.startswith("would delete 2 items: ") and "--force" in dry.stderr
    assert ok("items", "count", *c, server=server).strip() == "6"
    assert ok("items", "purge", *c, "--filter", CLASS_FILTER % "beach", "--force", server=server).startswith(
        "deleted 2 items: ")
    assert ok("items", "count", *c, server=server).strip() == "4"

    assert ok("items", "delete", "900.jpg", *c, server=server).strip() == "deleted 900.jpg"
    assert ok("items", "delete", "901.jpg", "gone.jpg", *c, server=server).strip() == "deleted 1 of 2 items (1 did not exist)"
    assert sorted(line.split("\t")[0] for line in ok("items", "list", *c, server=server).splitlines()) == [
        "102.jpg", "sub/903.jpg"]


def test_collections_update(server: ServerProcess) -> None:
    ok("collections", "create", "cli-update", "--description", "first", server=server)
    line = ok("collections", "update", "cli-update", "--description", "second", "--max-nsfw-score", "0.5", server=server)
    assert line.strip().endswith("refuses NSFW score > 0.5\tsecond")
    got = json.loads(ok("collections", "get", "cli-update", "--json", server=server))[0]
    assert got["description"] == "second" and got["max_nsfw_score"] == 0.5 and got["name"] == "collections/cli-update"
    line = ok("collections", "update", "cli-update", "--no-max-nsfw-score", server=server)
    assert line.strip().endswith("NSFW scored\tsecond")  # description kept: only the limit was in the mask
    nothing = cli("collections", "update", "cli-update", server=server)
    assert nothing.returncode != 0 and "nothing to change" in nothing.stderr
    assert ok("collections", "delete", "cli-update", server=server).strip() == "deleted cli-update"


def test_cli_reports_errors_plainly(server: ServerProcess) -> None:
    out = cli("collections", "get", "does-not-exist", server=server)
    assert out.returncode == 2
    assert "NOT_FOUND (COLLECTION_NOT_FOUND)" in out.stderr and "does-not-exist" in out.stderr
    out = cli("collections", "create", "cli-clip", "--model-set", "clip", server=server)
    assert out.returncode == 2 and "FAILED_PRECONDITION (MODEL_SET_NOT_SERVED)" in out.stderr
    assert "export-clip" in out.stderr
    out = cli("items", "purge", "-c", "whatever", server=server)  # no --filter: refused before any call
    assert out.returncode == 2 and "--filter" in out.stderr
    out = cli("search", "-c", "whatever", server=server)
    assert out.returncode != 0 and "exactly one of" in out.stderr


def test_insert_and_moderate(tmp_path: Path, server: ServerProcess) -> None:
    ok("collections", "create", "cli-insert", server=server)
    first = ok("insert", str(corel_path(300)), "-c", "cli-insert", "--id", "bus/1", "--metadata", '{"n": 1}',
               server=server)
    assert first.strip() == "bus/1"
    again = ok("insert", str(corel_path(300)), "-c", "cli-insert", "--id", "bus/2", "--duplicate-policy", "skip",
               server=server)
    assert again.startswith("bus/1\tskipped: duplicates the stored item (score 1.000)")
    rejected = cli("insert", str(corel_path(300)), "-c", "cli-insert", "--id", "bus/3", "--duplicate-policy", "reject",
                   server=server)
    assert rejected.returncode == 2 and "ALREADY_EXISTS (DUPLICATE_IMAGE)" in rejected.stderr
    groups = ok("find-duplicates", "-c", "cli-insert", server=server)
    assert groups.strip() == ""  # one stored copy only
    moderation = ok("moderate", str(corel_path(300)), server=server)
    assert moderation.endswith("safe (threshold 0.8)\n")
    bad_metadata = cli("insert", str(corel_path(301)), "-c", "cli-insert", "--metadata", "[1, 2]", server=server)
    assert bad_metadata.returncode != 0 and "JSON object" in bad_metadata.stderr


def test_faces_and_text_from_the_command_line(tmp_path: Path, server: ServerProcess) -> None:
    """detect-faces, read-text, collections create --faces --ocr, search --face / --words."""
    faces = REPO_ROOT.parent / "shared" / "datasets" / "faces"
    ocr = REPO_ROOT.parent / "shared" / "datasets" / "ocr"
    two = faces / "two_people.jpg"
    lines = ok("detect-faces", str(two), server=server).splitlines()
    assert [line.split("\t")[0] for line in lines] == ["0", "1"]
    assert "TEST" in ok("read-text", str(ocr / "issue_170.png"), server=server).upper()
    created = ok("collections", "create", "cli-both", "--faces", "--ocr", "--skip-nsfw-scoring", server=server)
    assert "faces" in created and "ocr" in created
    folder = tmp_path / "both"
    folder.mkdir()
    for source in (two, ocr / "issue_170.png", corel_path(3)):
        (folder / source.name).write_bytes(source.read_bytes())
    ok("index", str(folder), "-c", "cli-both", server=server)
    by_face = ok("search", "-c", "cli-both", "--face", str(two), "--face-index", "0", server=server)
    assert by_face.split()[2] == "two_people.jpg" and "face 0: box" in by_face
    by_words = ok("search", "-c", "cli-both", "--words", "test", server=server)
    assert by_words.split()[2] == "issue_170.png"

"""The Python client as a package of its own: the asyncio client mirrors the blocking one,
nothing in it needs the server package, and its resource names are RFC 3986 encoded."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import sysconfig
from pathlib import Path

import grpc
import pytest

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch_client import AsyncImageSearchClient, ImageSearchClient, InsertItem, PurgeResult
from imagesearch_client.errors import error_metadata, error_reason
from imagesearch_client.filters import match, where
from imagesearch_client.names import InvalidName, item_name, parse_item_name

CLIENT_ROOT = REPO_ROOT / "clients" / "python"


def public_methods(cls: type) -> dict[str, object]:
    return {name: member for name, member in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_async_client_mirrors_the_blocking_one() -> None:
    """Same public methods, same parameters (names, kinds, defaults, annotations; an
    asyncio parameter may widen its type, e.g. to accept async iterables too); a blocking
    generator is an async generator there, any other method a coroutine."""
    sync, aio = public_methods(ImageSearchClient), public_methods(AsyncImageSearchClient)
    assert sorted(sync) == sorted(aio)
    for name, method in sync.items():
        twin = aio[name]
        params, twin_params = inspect.signature(method).parameters, inspect.signature(twin).parameters
        assert list(params) == list(twin_params), name
        for p, q in zip(params.values(), twin_params.values()):
            assert (p.kind, p.default) == (q.kind, q.default), (name, p.name)
            # Annotations are strings here (postponed evaluation): widening keeps the original text.
            assert p.annotation == q.annotation or p.annotation in q.annotation, (name, p.name, q.annotation)
        if inspect.isgeneratorfunction(method):
            assert inspect.isasyncgenfunction(twin), f"{name} should be an async generator"
        else:
            assert inspect.iscoroutinefunction(twin), f"{name} should be a coroutine"
    assert inspect.signature(ImageSearchClient.__init__) == inspect.signature(AsyncImageSearchClient.__init__)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_client_imports_nothing_from_the_server() -> None:
    sources = sorted(CLIENT_ROOT.rglob("*.py"))
    assert len(sources) >= 8
    offenders = {
        str(p.relative_to(REPO_ROOT)): sorted(m for m in imported_modules(p) if m == "imagesearch" or m.startswith("imagesearch."))
        for p in sources
    }
    assert not {p: m for p, m in offenders.items() if m}


def test_client_works_without_the_server_package(server: ServerProcess) -> None:
    """A Python that sees the installed dependencies and clients/python but not the server
    package (no .pth processing: the server's editable install is invisible) imports the
    client and talks to the real server."""
    script = f"""
import importlib.util, sys
sys.path[:0] = [{str(CLIENT_ROOT)!r}, {sysconfig.get_paths()["purelib"]!r}, {sysconfig.get_paths()["platlib"]!r}]
assert importlib.util.find_spec("imagesearch") is None, "the server package is visible"
from imagesearch_client import ImageSearchClient, InsertItem
with ImageSearchClient({server.address!r}) as client:
    client.create_collection("standalone-client")
    result = client.create_item("standalone-client", InsertItem(image=open({str(corel_path(3))!r}, "rb").read(), id="a/b c"))
    hits = client.search("collections/standalone-client", open({str(corel_path(3))!r}, "rb").read(), top_k=1)
    print(result.item.name, hits[0].id, round(hits[0].score, 2))
"""
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["collections/standalone-client/items/a%2Fb%20c", "a/b", "c", "1.0"]


@pytest.mark.parametrize(
    "item_id, encoded",
    [
        ("plain-ID_1.2~3", "plain-ID_1.2~3"),
        ("shoes/red 1", "shoes%2Fred%201"),
        ("100%", "100%25"),
        ("naïve café", "na%C3%AFve%20caf%C3%A9"),
        ("a?b#c&d=e+f", "a%3Fb%23c%26d%3De%2Bf"),
        ("..", ".."),
        ("東京", "%E6%9D%B1%E4%BA%AC"),
    ],
)
def test_item_names_percent_encode(item_id: str, encoded: str) -> None:
    name = item_name("corel", item_id)
    assert name == f"collections/corel/items/{encoded}"
    assert item_name("collections/corel", item_id) == name
    parsed = parse_item_name(name)
    assert (parsed.collection_id, parsed.item_id) == ("corel", item_id)


@pytest.mark.parametrize(
    "name", ["corel/items/x", "collections/corel/x", "collections//items/x", "collections/c/items/", "collections/c/items/a/b",
             "collections/c/items/%FF"],
)
def test_bad_item_names_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        parse_item_name(name)


def test_both_image_and_url_refused_before_sending() -> None:
    """The API's Image is a oneof: the client refuses both rather than send one silently."""
    with ImageSearchClient("127.0.0.1:9") as client:  # nothing listens: the call never leaves
        with pytest.raises(ValueError, match="not both"):
            client.search("c", image=b"x", image_url="http://example.com/x.jpg")
        with pytest.raises(ValueError, match="not both"):
            client.create_item("c", InsertItem(image=b"x", image_url="http://example.com/x.jpg"))
        with pytest.raises(ValueError, match="nothing to update"):
            client.update_collection("c")
        with pytest.raises(ValueError, match="duplicate_policy"):
            client.create_item("c", InsertItem(image=b"x", duplicate_policy="keep"))


ODD_IDS = ["shoes/red 1", "100% cotton", "naïve café?#&=+", "..", "a~b_c.d-e", "東京/タワー"]


def test_odd_item_ids_round_trip(client: ImageSearchClient) -> None:
    """IDs with '/', '%', spaces and non-ASCII reach the server percent-encoded and come back
    plain, through every call that names an item."""
    name = "odd-ids"
    client.create_collection(name)
    images = {item_id: corel_path(100 * k + 5).read_bytes() for k, item_id in enumerate(ODD_IDS)}
    for item_id, image in images.items():
        result = client.create_item(name, InsertItem(image=image, id=item_id, metadata={"id": item_id}))
        assert result.id == item_id and result.item.name == item_name(name, item_id)
    assert sorted(i.id for i in client.list_items(name, page_size=2)) == sorted(ODD_IDS)
    assert [i.id for i in client.batch_get_items(name, ODD_IDS)] == ODD_IDS
    for item_id, image in images.items():
        assert client.get_item(name, item_id).metadata == {"id": item_id}
        assert client.search(name, image, top_k=1)[0].id == item_id
        assert item_id not in {h.id for h in client.search_similar(name, item_id, top_k=10)}
    updated = client.update_item(name, ODD_IDS[0], {"colour": "red"}, keys=["colour"])
    assert updated.metadata == {"id": ODD_IDS[0], "colour": "red"}
    client.delete_item(name, ODD_IDS[1])
    assert client.batch_delete_items(name, ODD_IDS[2:4]) == 2
    assert sorted(i.id for i in client.list_items(name)) == sorted([ODD_IDS[0], *ODD_IDS[4:]])
    # A purge without force only counts; its sample names come back as plain IDs.
    last = where(must=[match("id", ODD_IDS[-1])])
    assert client.purge_items(name, last) == PurgeResult(1, [ODD_IDS[-1]])
    assert client.count_items(name, last) == 1
    assert client.purge_items(name, last, force=True).count == 1
    assert client.count_items(name, last) == 0 and client.count_items(name) == 2


async def test_async_client_end_to_end(server: ServerProcess) -> None:
    """The asyncio client against the real server: an async-iterable import, pages, search,
    the duplicate audit, and an error's reason read from an AioRpcError."""
    name = "async-client"

    async def items():
        for i in (0, 1, 2, 300):
            yield InsertItem(image=corel_path(i).read_bytes(), id=f"a{i}", metadata={"class": i // 100})
        yield InsertItem(image=corel_path(0).read_bytes(), id="copy-of-a0")

    async with AsyncImageSearchClient(server.address, timeout=60) as client:
        created = await client.create_collection(name, description="made by the asyncio client")
        assert (created.id, created.description) == (name, "made by the asyncio client")
        outcomes = sorted([o async for o in client.import_items(name, items(), timeout=120)], key=lambda o: o.index)
        assert [o.id for o in outcomes] == ["a0", "a1", "a2", "a300", "copy-of-a0"] and all(o.ok for o in outcomes)
        # The stream's items are processed concurrently ("responses may arrive out of order"):
        # whichever of the two identical images is checked second is the one flagged (CI once
        # saw copy-of-a0 checked first).
        flagged = {o.id: o.duplicate for o in outcomes if o.duplicate is not None}
        assert len(flagged) == 1 and {*flagged, next(iter(flagged.values())).id} == {"a0", "copy-of-a0"}
        assert next(iter(flagged.values())).exact
        page = await client.list_items_page(name, page_size=2)
        assert len(page.items) == 2 and page.next_page_token
        assert sorted([i.id async for i in client.list_items(name, page_size=2)]) == sorted(o.id for o in outcomes)
        assert name in [c.id async for c in client.list_collections(page_size=1)]
        hits = await client.search(name, corel_path(300).read_bytes(), top_k=2)
        assert hits[0].id == "a300" and hits[0].metadata == {"class": 3}
        groups = [g.ids async for g in client.find_duplicates(name)]
        assert groups == [["a0", "copy-of-a0"]]
        assert await client.count_items(name) == 5
        with pytest.raises(grpc.RpcError) as info:
            await client.get_item(name, "missing")
        assert error_reason(info.value) == "ITEM_NOT_FOUND" and error_metadata(info.value)["item"] == "missing"
        await client.delete_collection(name)
        assert name not in [c.id async for c in client.list_collections()]


def readme_blocks() -> list[str]:
    text = (CLIENT_ROOT / "README.md").read_text()
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith("python\n")]


def test_readme_examples_run(server: ServerProcess) -> None:
    """The client README's examples run as written (against this session's server) and print what they say."""
    blocks = readme_blocks()
    assert len(blocks) == 2
    outputs = []
    for code in blocks:
        assert "127.0.0.1:50051" in code
        out = subprocess.run([sys.executable, "-c", code.replace("127.0.0.1:50051", server.address)],
                             capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
        assert out.returncode == 0, out.stderr
        outputs.append(out.stdout.splitlines())
    sync, aio = outputs
    assert sync[0] == "collections/readme-photos/items/shoes%2Fred%201"
    assert sorted(sync[1:3]) == ["0 copy stored shoes/red 1", "1 broken IMAGE_UNDECODABLE "]
    assert sync[3].startswith("1 ") and " 1.0 " in sync[3] and sync[-1].startswith("StatusCode.NOT_FOUND ITEM_NOT_FOUND")
    assert "PurgeResult(count=1, sample=['copy'])" in sync[-2]
    assert aio[0] == "3" and sorted(ast.literal_eval(aio[1])) == ["corel-1", "corel-2"]

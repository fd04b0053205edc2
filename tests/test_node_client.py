"""A real Node.js client (@grpc/grpc-js, loading the .proto files) gets the same answers.

The Node client finds google/api/*.proto through IMAGESEARCH_PROTO_PATH; the tests point it
at the googleapis-common-protos package installed in this Python environment, as CI does
after `make install`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from google.api import annotations_pb2

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch_client import ImageSearchClient, InsertItem

NODE_CLIENT = REPO_ROOT / "clients" / "node"
# site-packages, holding google/api/annotations.proto beside the generated module.
GOOGLEAPIS_PROTOS = Path(annotations_pb2.__file__).parents[2]


def node(script: str, *args: str, proto_path: Path | str = GOOGLEAPIS_PROTOS) -> subprocess.CompletedProcess:
    """Runs `node <script> args...` (a file in clients/node, or -e CODE) with IMAGESEARCH_PROTO_PATH set."""
    binary = shutil.which("node")
    assert binary, "Node.js is needed for this test (it ships with the project's machines)"
    assert (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make node-deps` first"
    env = {**os.environ, "IMAGESEARCH_PROTO_PATH": str(proto_path)}
    command = [binary, str(NODE_CLIENT / script)] if script.endswith(".js") else [binary, "-e", script]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, cwd=NODE_CLIENT, env=env)


def test_node_search_matches_python(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("node")
    for i in (500, 501, 502, 800):
        client.create_item(
            "node", InsertItem(image=corel_path(i).read_bytes(), id=f"n/{i}", metadata={"i": i, "tags": ["a", "b"]})
        )
    out = node("search.js", server.address, "node", str(corel_path(501)), "3")
    assert out.returncode == 0, out.stderr
    node_hits = [json.loads(line) for line in out.stdout.splitlines()]
    python_hits = client.search("node", corel_path(501).read_bytes(), top_k=3)
    assert [h["item_id"] for h in node_hits] == [h.id for h in python_hits]
    first = node_hits[0]
    assert first["name"] == "collections/node/items/n%2F501"  # the item ID percent-encoded in the name
    assert first["metadata"] == {"i": 501, "tags": ["a", "b"]} and first["rank"] == 1
    assert abs(first["score"] - python_hits[0].score) < 1e-6
    assert abs(first["similarity"] - python_hits[0].similarity) < 1e-6

    out = node("search.js", server.address, "node", "--text", "an elephant", "2")
    assert out.returncode == 0, out.stderr
    python_hits = client.search_text("node", "an elephant", top_k=2)
    assert [json.loads(line)["item_id"] for line in out.stdout.splitlines()] == [h.id for h in python_hits]


def test_node_creates_items(server: ServerProcess, client: ImageSearchClient) -> None:
    """The Node client's CreateCollection and CreateItem (image bytes, Struct metadata, an ID to encode)."""
    script = f"""
const fs = require('fs');
const m = require('./imagesearch');
(async () => {{
  const client = m.connect({json.dumps(server.address)});
  await m.createCollection(client, 'node-writes');
  const item = await m.createItem(client, 'node-writes', fs.readFileSync({json.dumps(str(corel_path(300)))}),
    {{ itemId: 'bus 300/a', metadata: {{ kind: 'bus', n: 3, nested: {{ color: 'red', sizes: [40, 41.5] }} }} }});
  console.log(JSON.stringify(item));
  client.close();
}})().catch((err) => {{ console.error(err); process.exit(1); }});
"""
    out = node(script)
    assert out.returncode == 0, out.stderr
    item = json.loads(out.stdout)
    assert item["name"] == "collections/node-writes/items/bus%20300%2Fa" and item["item_id"] == "bus 300/a"
    stored = client.get_item("node-writes", "bus 300/a")
    assert stored.metadata == {"kind": "bus", "n": 3, "nested": {"color": "red", "sizes": [40, 41.5]}}
    assert stored.nsfw_score is not None and abs(item["nsfw_score"] - stored.nsfw_score) < 1e-6


def test_node_encodes_item_ids_as_the_server_does() -> None:
    from imagesearch_client.names import encode_id

    ids = ["shoes/red 1", "a!'()*~-._", "ünï cødé", "100%", "a+b=c&d?e#f"]
    out = node(f"const m = require('./imagesearch'); console.log(JSON.stringify({json.dumps(ids)}.map(m.encodeItemId)))")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [encode_id(i) for i in ids]


def test_node_sees_error_status(server: ServerProcess) -> None:
    out = node("search.js", server.address, "no-such-collection", str(corel_path(0)))
    assert out.returncode == 2
    assert "error: 5 " in out.stderr and "no-such-collection" in out.stderr  # 5 = NOT_FOUND


def test_node_says_where_the_google_protos_are_missing(tmp_path: Path) -> None:
    out = node("search.js", "127.0.0.1:1", "c", str(corel_path(0)), proto_path=tmp_path)
    assert out.returncode == 1
    assert "IMAGESEARCH_PROTO_PATH" in out.stderr and "google/api/annotations.proto" in out.stderr


def test_node_reaches_the_admin_service_and_the_people_rpcs(server: ServerProcess, client: ImageSearchClient) -> None:
    """Both services of the .proto files load: an alias made through ImageSearchAdminService
    (connectAdmin) and a people RPC of ImageSearchService (FAILED_PRECONDITION: no faces)."""
    client.create_collection("node-admin")
    script = f"""
const m = require('./imagesearch');
(async () => {{
  const admin = m.connectAdmin({json.dumps(server.address)});
  const alias = await m.unary(admin, 'CreateAlias',
    {{ alias_id: 'node-alias', alias: {{ collection: 'collections/node-admin' }} }}, 30000);
  const client = m.connect({json.dumps(server.address)});
  let code = null;
  try {{ await m.unary(client, 'ListPeople', {{ parent: 'collections/node-admin' }}, 30000); }}
  catch (err) {{ code = err.code; }}
  console.log(JSON.stringify({{ alias, code }}));
  admin.close(); client.close();
}})().catch((err) => {{ console.error(err); process.exit(1); }});
"""
    out = node(script)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["alias"]["name"] == "aliases/node-alias"
    assert answer["alias"]["collection"] == "collections/node-admin"
    assert answer["code"] == 9  # FAILED_PRECONDITION: the collection has no faces
    assert [a.collection for a in client.admin.list_aliases("node-admin")] == ["node-admin"]

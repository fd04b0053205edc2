"""The admin service in the real server process (the session `server`: its own Triton and
embedded store): listed by reflection and health, described and called by grpcurl, served by
the HTTP gateway, driven by the `imagesearch` CLI, and re-processing through the real models."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from dataclasses import dataclass

from conftest import ServerProcess, corel_path
from imagesearch.cli import main
from imagesearch_client import ImageSearchClient, InsertItem
from test_grpcurl import grpcurl
from test_http_gateway import curl

ADMIN = "imagesearch.v1.ImageSearchAdminService"


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(server: ServerProcess, *args: str) -> Ran:
    """The `imagesearch` command in-process (its own process costs ~2 s of imports a call)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--server", server.address])
    return Ran(code, out.getvalue(), err.getvalue())


def test_reflection_health_and_grpcurl(server: ServerProcess, client: ImageSearchClient) -> None:
    listed = grpcurl("-plaintext", server.address, "list")
    assert listed.returncode == 0 and ADMIN in listed.stdout.split(), listed.stderr
    health = grpcurl("-plaintext", "-d", json.dumps({"service": ADMIN}), server.address, "grpc.health.v1.Health/Check")
    assert json.loads(health.stdout) == {"status": "SERVING"}, health.stderr
    described = grpcurl("-plaintext", server.address, "describe", ADMIN)
    for rpc in ("CreateSnapshot", "RestoreSnapshot", "DownloadSnapshot", "UploadSnapshot", "UpdateAlias",
                "ReprocessCollection", "CreateApiKey", "DeleteApiKey"):
        assert f"rpc {rpc}" in described.stdout
    client.create_collection("admin-grpcurl")
    client.create_item("admin-grpcurl", InsertItem(image=corel_path(12).read_bytes(), id="a"))
    made = grpcurl("-plaintext", "-d", json.dumps({"parent": "collections/admin-grpcurl"}), server.address,
                   f"{ADMIN}/CreateSnapshot")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["item_count"] == "1", made.stdout


def test_http_gateway_serves_the_admin_routes(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("admin-http")
    made = curl(server, "/v1/collections/admin-http/snapshots", "-X", "POST", "-d", "{}")
    assert made.status == 200, made.body
    name = made.json()["name"]
    assert curl(server, f"/v1/{name}").json()["checksum"] == made.json()["checksum"]
    chunks = curl(server, f"/v1/{name}:download").json()  # a server stream: a JSON array
    data = b"".join(base64.b64decode(c.get("data", "")) for c in chunks)
    assert chunks[0]["snapshot"]["name"] == name and len(data) == int(made.json()["sizeBytes"])
    alias = curl(server, "/v1/aliases?alias_id=admin-http-live", "-X", "POST", "-d",
                 json.dumps({"collection": "collections/admin-http"}))
    assert alias.status == 200 and alias.json()["name"] == "aliases/admin-http-live", alias.body
    # The alias is accepted by the data API too (GetCollection answers with the collection).
    assert curl(server, "/v1/collections/admin-http-live").json()["name"] == "collections/admin-http"
    missing = curl(server, "/v1/aliases/nope")
    assert missing.status == 404 and "ALIAS_NOT_FOUND" in missing.body
    assert curl(server, "/v1/aliases/admin-http-live", "-X", "DELETE").status == 200


def test_cli_and_reprocess_with_the_real_models(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("admin-cli", keep_originals=True)
    for i in (101, 205, 333):
        client.create_item("admin-cli", InsertItem(image=corel_path(i).read_bytes(), id=f"c{i}"))
    made = cli(server, "snapshot", "create", "admin-cli")
    assert made.returncode == 0 and "3 items" in made.stdout, made.stderr
    snapshot_id = made.stdout.split("\t")[0].split("/", 1)[1]
    assert snapshot_id in cli(server, "snapshot", "list", "admin-cli").stdout
    assert cli(server, "alias", "create", "admin-cli-live", "admin-cli").returncode == 0
    done = cli(server, "reprocess", "admin-cli-live", "--mode", "reembed", "--target", "admin-cli-v2")
    assert done.returncode == 0 and "admin-cli-v2: 3 re-run, 0 already done" in done.stdout, done.stderr
    switched = cli(server, "alias", "switch", "admin-cli-live", "admin-cli-v2")
    assert switched.returncode == 0, switched.stderr
    hits = client.search("admin-cli-live", corel_path(205).read_bytes(), top_k=1)
    assert hits[0].id == "c205" and hits[0].score > 0.99
    again = cli(server, "reprocess", "admin-cli", "--mode", "fill")
    assert "admin-cli: 0 re-run, 3 already done" in again.stdout, again.stderr
    refused = cli(server, "snapshot", "restore", "admin-cli", snapshot_id)
    assert refused.returncode == 2 and "ALREADY_EXISTS (COLLECTION_ALREADY_EXISTS)" in refused.stderr
    restored = cli(server, "snapshot", "restore", "admin-cli", snapshot_id, "--as", "admin-cli-copy")
    assert "restored admin-cli-copy: 3 items" in restored.stdout, restored.stderr

"""Access control end to end (docs/security.md, "Access control"): one real server (its own
Triton, embedded store) whose data dir holds API keys, called over gRPC with the Python
client and over the HTTP gateway; and a server refusing a public address without keys."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from conftest import REPO_ROOT, ServerProcess, corel_path, free_port
from imagesearch.auth.keys import KeyFile
from imagesearch.auth.scopes import Grant, Role
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_reason

GRANTS = {
    "admin": ("admin:*", "write:*", "read:*"),
    "tenant": ("read:tenant-a-*", "write:tenant-a-*"),
    "reader": ("read:tenant-a-photos",),
    "writer": ("write:*",),  # no read anywhere: not even the stateless image RPCs
    "expired": ("read:*",),
    "revoked": ("read:*",),
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("auth")
    keys_file = KeyFile(data_dir / "api_keys.json")
    keys = {
        name: keys_file.create(name, tuple(Grant.parse(g) for g in grants), -1 if name == "expired" else None)
        for name, grants in GRANTS.items()
    }
    keys_file.revoke("revoked")
    proc = ServerProcess(data_dir).start()
    with ImageSearchClient(proc.address, api_key=keys["admin"]) as admin:
        for collection in ("tenant-a-photos", "tenant-b-photos", "scratch"):
            admin.create_collection(collection)
        admin.create_item("tenant-a-photos", InsertItem(image=corel_path(3).read_bytes(), id="p3"))
    yield proc, keys
    proc.stop()


def client(proc: ServerProcess, key: str | None) -> ImageSearchClient:
    return ImageSearchClient(proc.address, timeout=60, api_key=key)


def refused(call) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), error_reason(caught.value)


UNAUTH = (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
DENIED = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")


@pytest.mark.parametrize("rpc", ["get", "count", "search", "create_item", "import", "delete_collection", "moderate",
                                 "create_snapshot", "upload_snapshot", "reprocess", "list_aliases", "list_api_keys"])
def test_no_bad_revoked_or_expired_key_is_unauthenticated(guarded, rpc: str) -> None:
    proc, keys = guarded
    calls = {
        "get": lambda c: c.get_collection("tenant-a-photos"),
        "count": lambda c: c.count_items("tenant-a-photos"),
        "search": lambda c: c.search("tenant-a-photos", corel_path(3).read_bytes()),  # server-streaming
        "create_item": lambda c: c.create_item("tenant-a-photos", InsertItem(image=corel_path(4).read_bytes())),
        "import": lambda c: list(c.import_items("tenant-a-photos", [InsertItem(image=corel_path(4).read_bytes())])),
        "delete_collection": lambda c: c.delete_collection("tenant-a-photos"),
        "moderate": lambda c: c.moderate_image(corel_path(5).read_bytes()),
        # The admin service (admin.proto): unary, client-streaming, server-streaming.
        "create_snapshot": lambda c: c.admin.create_snapshot("tenant-a-photos"),
        "upload_snapshot": lambda c: c.admin.upload_snapshot(Path(__file__)),
        "reprocess": lambda c: list(c.admin.reprocess("tenant-a-photos")),
        "list_aliases": lambda c: c.admin.list_aliases(),
        "list_api_keys": lambda c: c.admin.list_api_keys(),
    }
    with client(proc, None) as c:
        assert refused(lambda: calls[rpc](c)) == (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
    for key in ("isk_" + "A" * 43, keys["revoked"], keys["expired"]):
        with client(proc, key) as c:
            assert refused(lambda: calls[rpc](c)) == UNAUTH


def test_roles_and_scopes(guarded) -> None:
    proc, keys = guarded
    photo = InsertItem(image=corel_path(6).read_bytes(), id="p6")
    with client(proc, keys["reader"]) as reader:
        assert reader.get_collection("tenant-a-photos").name.endswith("tenant-a-photos")
        assert reader.count_items("tenant-a-photos") >= 1
        assert reader.search("tenant-a-photos", corel_path(3).read_bytes(), top_k=1)[0].id == "p3"
        assert reader.moderate_image(corel_path(5).read_bytes()).nsfw_score >= 0
        # Another tenant's collection, one that exists and one that does not: the same answer.
        assert refused(lambda: reader.get_collection("tenant-b-photos")) == DENIED
        assert refused(lambda: reader.get_collection("tenant-b-missing")) == DENIED
        assert refused(lambda: reader.create_item("tenant-a-photos", photo)) == DENIED
        with pytest.raises(grpc.RpcError) as caught:
            list(reader.import_items("tenant-a-photos", [photo]))
        assert (caught.value.code(), error_reason(caught.value)) == DENIED
        assert "'write'" in caught.value.details()
    with client(proc, keys["tenant"]) as tenant:
        assert tenant.create_item("tenant-a-photos", photo).item.id == "p6"
        assert refused(lambda: tenant.create_item("tenant-b-photos", photo)) == DENIED
        assert refused(lambda: tenant.delete_collection("tenant-a-photos")) == DENIED
        assert refused(lambda: list(tenant.find_duplicates("tenant-a-photos"))) == DENIED
    with client(proc, keys["writer"]) as writer:
        assert refused(lambda: writer.moderate_image(corel_path(5).read_bytes())) == DENIED
    with client(proc, keys["admin"]) as admin:
        admin.delete_collection("scratch")


def test_admin_rpcs_need_admin_on_the_collection(guarded) -> None:
    """The admin service's rows of the matrix: admin on the collection(s) a call names, admin
    on '*' for API keys, uploads, every alias and whole-server snapshots."""
    proc, keys = guarded
    for who in ("tenant", "reader", "writer"):  # no admin role anywhere
        with client(proc, keys[who]) as c:
            assert refused(lambda: c.admin.create_snapshot("tenant-a-photos")) == DENIED
            assert refused(lambda: c.admin.list_snapshots("tenant-a-photos")) == DENIED
            assert refused(lambda: c.admin.create_alias("tenant-a-live", "tenant-a-photos")) == DENIED
            assert refused(lambda: list(c.admin.reprocess("tenant-a-photos"))) == DENIED
            assert refused(lambda: c.admin.list_api_keys()) == DENIED
            assert refused(lambda: c.admin.create_api_key("sneaky", ["admin:*"])) == DENIED
    with client(proc, keys["admin"]) as admin:
        made = admin.admin.create_snapshot("tenant-a-photos")
        assert made.item_count >= 1
        assert admin.admin.create_alias("tenant-a-live", "tenant-a-photos").collection == "tenant-a-photos"
        assert "admin" in {k.key_id for k in admin.admin.list_api_keys()}
        created = admin.admin.create_api_key("via-rpc", ["read:tenant-a-*"])
    with client(proc, created.key) as fresh:  # a key made by the RPC works on the next call
        assert fresh.get_collection("tenant-a-live").name == "collections/tenant-a-photos"
        assert refused(lambda: fresh.get_collection("tenant-b-photos")) == DENIED
        with client(proc, keys["admin"]) as admin:
            admin.admin.delete_api_key("via-rpc")
            admin.admin.delete_alias("tenant-a-live")
            admin.admin.delete_snapshot("tenant-a-photos", made.snapshot_id)
        assert refused(lambda: fresh.get_collection("tenant-a-photos")) == UNAUTH  # revoked: the next call


def test_list_collections_shows_only_readable(guarded) -> None:
    proc, keys = guarded
    names = {}
    for who in ("reader", "tenant", "admin"):
        with client(proc, keys[who]) as c:
            names[who] = {col.name.split("/")[-1] for col in c.list_collections()}
    assert names["reader"] == {"tenant-a-photos"}
    assert names["tenant"] == {"tenant-a-photos"}
    assert {"tenant-a-photos", "tenant-b-photos"} <= names["admin"]


def http_get(proc: ServerProcess, path: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(proc.http_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_http_gateway(guarded) -> None:
    proc, keys = guarded
    path = "/v1/collections/tenant-a-photos"
    status, body = http_get(proc, path, {})
    assert status == 401 and "API_KEY_MISSING" in body, body
    status, body = http_get(proc, path, {"X-API-Key": keys["revoked"]})
    assert status == 401 and "API_KEY_INVALID" in body, body
    status, body = http_get(proc, "/v1/collections/tenant-b-photos", {"X-API-Key": keys["reader"]})
    assert status == 403 and "PERMISSION_MISSING" in body, body
    status, body = http_get(proc, path, {"X-API-Key": keys["reader"]})
    assert status == 200 and json.loads(body)["name"] == "collections/tenant-a-photos", body
    status, body = http_get(proc, path, {"Authorization": f"Bearer {keys['reader']}"})
    assert status == 200, body
    status, body = http_get(proc, "/v1/collections", {"X-API-Key": keys["reader"]})
    assert [c["name"] for c in json.loads(body)["collections"]] == ["collections/tenant-a-photos"], body


def test_revocation_without_restart(guarded) -> None:
    proc, _ = guarded
    keys_file = KeyFile(proc.data_dir / "api_keys.json")
    key = keys_file.create("temporary", (Grant.parse("read:*"),))
    with client(proc, key) as c:
        deadline = time.monotonic() + 10
        while True:  # a new key, too, is picked up within the reload interval (2 s)
            try:
                c.get_collection("tenant-a-photos")
                break
            except grpc.RpcError:
                assert time.monotonic() < deadline, "the new key was not picked up"
                time.sleep(0.5)
        keys_file.revoke("temporary")
        started = time.monotonic()
        while True:
            try:
                c.get_collection("tenant-a-photos")
            except grpc.RpcError as exc:
                assert (exc.code(), error_reason(exc)) == UNAUTH
                break
            assert time.monotonic() - started < 5, "a revoked key still worked after 5 s"
            time.sleep(0.2)


def test_keys_never_logged_and_file_holds_hashes(guarded) -> None:
    proc, keys = guarded
    log = proc.log_path.read_text(errors="replace")
    stored = (proc.data_dir / "api_keys.json").read_text()
    for key in keys.values():
        assert key not in log
        assert key not in stored
        assert key[4:] not in log


def test_health_stays_open(guarded) -> None:
    proc, _ = guarded
    with client(proc, None) as c:
        c.wait_serving(timeout=10)


def test_refuses_public_address_without_keys(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "imagesearch.cli", "serve", "--listen", f"0.0.0.0:{free_port()}",
           "--data-dir", str(tmp_path), "--http-port", "0", "--metrics-port", "0"]
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "refusing to serve 0.0.0.0" in done.stderr and "--insecure-no-auth" in done.stderr
    assert not (tmp_path / "triton").exists()  # refused before anything started


def test_grants_and_patterns() -> None:
    from imagesearch.auth.scopes import InvalidGrant, Role, allows

    grants = (Grant.parse("read:tenant-a-*"), Grant.parse("admin:photos"))
    assert allows(grants, Role.READ, "tenant-a-x") and not allows(grants, Role.READ, "tenant-b-x")
    assert allows(grants, Role.ADMIN, "photos") and not allows(grants, Role.ADMIN, "photos2")
    assert not allows(grants, Role.WRITE, "photos")  # roles do not imply each other
    assert allows(grants, Role.READ, None) and not allows(grants, Role.WRITE, None)
    assert allows((Grant.parse("read:*"),), Role.READ, "anything")
    for bad in ("read", "owner:*", "read:", "read:a*b"):
        with pytest.raises(InvalidGrant):
            Grant.parse(bad)


def test_loopback_addresses() -> None:
    from imagesearch.auth.startup import is_loopback

    for listen in ("127.0.0.1:50051", "127.3.4.5:1", "[::1]:50051", "localhost:50051", "unix:/tmp/s"):
        assert is_loopback(listen), listen
    for listen in ("0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "example.com:50051", ":50051"):
        assert not is_loopback(listen), listen


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imagesearch.cli import main

    assert main(["keys", "create", "ci", "--role", "read:tenant-a-*", "--role", "admin:*",
                 "--expires-in-days", "30", "--data-dir", str(tmp_path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("isk_") and len(key) >= 4 + 43  # 32 random bytes, base64url
    stored = json.loads((tmp_path / "api_keys.json").read_text())["keys"][0]
    assert key not in json.dumps(stored) and len(stored["sha256"]) == 64
    assert (tmp_path / "api_keys.json").stat().st_mode & 0o077 == 0
    assert main(["keys", "create", "ci", "--role", "read:*", "--data-dir", str(tmp_path)]) == 1
    assert main(["keys", "create", "x", "--role", "owner:*", "--data-dir", str(tmp_path)]) == 1
    capsys.readouterr()
    assert main(["keys", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert "ci\tread:tenant-a-* admin:*" in listed and key not in listed
    assert main(["keys", "revoke", "ci", "--data-dir", str(tmp_path)]) == 0
    assert main(["keys", "revoke", "ci", "--data-dir", str(tmp_path)]) == 1
    assert KeyFile(tmp_path / "api_keys.json").load() == []


# --- The matrix: every RPC of every service x every kind of key, over gRPC and HTTP/JSON ---
# In-process (tests/api_fakes.py: the real handlers, interceptor and gateway over fake
# encoders). A service or RPC without a row in RPC_ROLES fails test_every_rpc_has_a_row.

@dataclass(frozen=True)
class Row:
    """The role an RPC needs, and whether its request names a collection."""

    role: Role
    names_collection: bool = True


RPC_ROLES: dict[str, Row] = {
    **{f"imagesearch.v1.ImageSearchService.{m}": Row(Role.READ) for m in (
        "GetCollection", "GetItem", "ListItems", "BatchGetItems", "CountItems", "SearchItems", "ListPeople",
        "GetPerson")},
    # Decision (docs/security.md): the stateless image RPCs need `read` on any collection.
    **{f"imagesearch.v1.ImageSearchService.{m}": Row(Role.READ, names_collection=False) for m in (
        "ListCollections", "ModerateImage", "DetectFaces", "ReadImageText")},
    **{f"imagesearch.v1.ImageSearchService.{m}": Row(Role.WRITE) for m in (
        "CreateItem", "ImportItems", "UpdateItem", "DeleteItem", "BatchDeleteItems", "PurgeItems", "UpdatePerson",
        "MergePeople", "DeletePerson", "UpdateFace", "ReclusterPeople")},
    **{f"imagesearch.v1.ImageSearchService.{m}": Row(Role.ADMIN) for m in (
        "CreateCollection", "UpdateCollection", "DeleteCollection", "FindDuplicates")},
    # The admin service (auth/admin_scopes.py): admin on every collection or alias a request
    # names; admin on `*` for keys and uploads (whose collections are unknown until read).
    **{f"imagesearch.v1.ImageSearchAdminService.{m}": Row(Role.ADMIN) for m in (
        "CreateSnapshot", "ListSnapshots", "GetSnapshot", "DeleteSnapshot", "DownloadSnapshot", "RestoreSnapshot",
        "ReprocessCollection", "CreateAlias", "GetAlias", "ListAliases", "UpdateAlias", "DeleteAlias")},
    **{f"imagesearch.v1.ImageSearchAdminService.{m}": Row(Role.ADMIN, names_collection=False) for m in (
        "UploadSnapshot", "CreateApiKey", "GetApiKey", "ListApiKeys", "DeleteApiKey")},
}
MATRIX_COLLECTION = "matrix-none"  # matched by the right keys' prefix grants; never created
MISSING, INVALID, DENIED_, ALLOWED = "API_KEY_MISSING", "API_KEY_INVALID", "PERMISSION_MISSING", "allowed"


def served_services() -> list:
    """Every service of every generated module of the API (imagesearch_client.v1.*_pb2)."""
    import importlib
    import pkgutil

    import imagesearch_client.v1 as v1

    services = []
    for module in pkgutil.iter_modules(v1.__path__):
        if module.name.endswith("_pb2"):
            services.extend(importlib.import_module(f"{v1.__name__}.{module.name}").DESCRIPTOR.services_by_name.values())
    return services


def all_methods() -> list:
    return [method for service in served_services() for method in service.methods]


def test_every_rpc_has_a_row() -> None:
    from imagesearch.auth.scopes import METHOD_ROLES

    names = {m.full_name for m in all_methods()}
    assert "imagesearch.v1.ImageSearchService.SearchItems" in names
    assert names == set(RPC_ROLES), f"RPCs without a row: {sorted(names - set(RPC_ROLES))}; " \
                                    f"rows of no RPC: {sorted(set(RPC_ROLES) - names)}"
    for method in all_methods():  # the server's table agrees (an RPC without an entry there needs admin)
        assert METHOD_ROLES.get(method.name, Role.ADMIN) is RPC_ROLES[method.full_name].role, method.full_name


# Names of the admin service's resources, matched by the right keys' prefix grants (mat*).
REFERENCE_NAMES = {"Snapshot": f"collections/{MATRIX_COLLECTION}/snapshots/s", "Alias": "aliases/matrix-alias",
                   "ApiKey": "apiKeys/k", "Collection": f"collections/{MATRIX_COLLECTION}",
                   "Person": f"collections/{MATRIX_COLLECTION}/people/p",
                   "Face": f"collections/{MATRIX_COLLECTION}/items/x/faces/0"}
RESOURCE_IDS = {"alias_id": "matrix-alias", "api_key_id": "k", "snapshot_id": "s"}


def fill(message) -> object:
    """A request naming MATRIX_COLLECTION (and an item, snapshot, alias or key in it) wherever
    its fields name one."""
    from google.api import resource_pb2

    for field in message.DESCRIPTOR.fields:
        reference = field.GetOptions().Extensions[resource_pb2.resource_reference].type
        kind = reference.rsplit("/", 1)[-1]
        is_string = isinstance(getattr(message, field.name), str)  # not a repeated string
        if is_string and field.name in RESOURCE_IDS:
            setattr(message, field.name, RESOURCE_IDS[field.name])
        elif field.name == "collection_id":
            setattr(message, field.name, MATRIX_COLLECTION)
        elif is_string and kind in REFERENCE_NAMES:
            setattr(message, field.name, REFERENCE_NAMES[kind])
        elif field.name == "name" and message.DESCRIPTOR.name in ("Alias", "ApiKey", "Person", "Face"):
            setattr(message, field.name, REFERENCE_NAMES[message.DESCRIPTOR.name])
        elif field.name in ("name", "parent") and is_string:
            item = reference.endswith("/Item") or message.DESCRIPTOR.name in ("Item", "GetItemRequest",
                                                                               "DeleteItemRequest")
            setattr(message, field.name, f"collections/{MATRIX_COLLECTION}" + ("/items/x" if item else ""))
        elif field.name in ("request", "collection", "item", "alias", "api_key", "person", "face") \
                and field.message_type is not None:
            fill(getattr(message, field.name))
    return message


def matrix_keys(folder: Path) -> tuple[dict[str, str], Path]:
    """name -> key: every kind of key the matrix tries."""
    path = folder / "api_keys.json"
    file = KeyFile(path)
    grants = {
        "right-read": ("read:mat*",), "right-write": ("write:mat*",), "right-admin": ("admin:mat*",),
        "all": ("read:*", "write:*", "admin:*"),
        "no-read": ("write:*", "admin:*"), "no-write": ("read:*", "admin:*"), "no-admin": ("read:*", "write:*"),
        "other-tenant": ("read:other-*", "write:other-*", "admin:other-*"),
        "revoked": ("read:*", "write:*", "admin:*"), "expired": ("read:*", "write:*", "admin:*"),
    }
    keys = {name: file.create(name, tuple(Grant.parse(g) for g in g_), -1 if name == "expired" else None)
            for name, g_ in grants.items()}
    file.revoke("revoked")
    keys["bad"] = "isk_" + "B" * 43
    return keys, path


def expectations(row: Row) -> dict[str | None, str]:
    """Key name (None: no key) -> the expected answer for an RPC of `row`."""
    right = "all" if row.role is Role.ADMIN and not row.names_collection else f"right-{row.role.value}"
    other = ALLOWED if (row.role is Role.READ and not row.names_collection) else DENIED_
    return {None: MISSING, "bad": INVALID, "revoked": INVALID, "expired": INVALID,
            f"no-{row.role.value}": DENIED_, "other-tenant": other, right: ALLOWED}


@pytest.fixture
async def matrix(tmp_path: Path):
    from api_fakes import start_fake_server
    from imagesearch.auth.keys import KeyStore
    from imagesearch.http import GatewayConfig, HttpGateway

    keys, path = matrix_keys(tmp_path)
    fake = await start_fake_server(tmp_path / "data", keys=KeyStore(path))
    gateway = HttpGateway(GatewayConfig("127.0.0.1", 0, fake.address, 32 << 20, 1.0))
    port = await gateway.start()
    yield fake, f"http://127.0.0.1:{port}", keys
    await gateway.stop()
    await fake.stop()


async def grpc_answer(channel: grpc.aio.Channel, method, key: str | None) -> str:
    from imagesearch.http.transcode import message_class

    request = fill(message_class(method.input_type)())
    path = f"/{method.containing_service.full_name}/{method.name}"
    kind = ("stream" if method.client_streaming else "unary") + "_" + ("stream" if method.server_streaming else "unary")
    call = getattr(channel, kind)(path, request_serializer=type(request).SerializeToString,
                                  response_deserializer=message_class(method.output_type).FromString)
    metadata = [("authorization", f"Bearer {key}")] if key else None
    payload = iter([request]) if method.client_streaming else request
    try:
        if method.server_streaming:
            [_ async for _ in call(payload, metadata=metadata, timeout=30)]
        else:
            await call(payload, metadata=metadata, timeout=30)
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            return error_reason(exc)
        assert exc.code() != grpc.StatusCode.UNIMPLEMENTED, f"{path} is not served by the test server"
    return ALLOWED


def http_request(route, request) -> tuple[str, dict[str, str]]:
    """The URL path and query of `route` for `request`: path variables from its fields, the
    other top-level string fields as query parameters (the body is an empty JSON object)."""
    import re

    def value(field_path: str) -> str:
        target = request
        for part in field_path.split("."):
            target = getattr(target, part)
        return target

    path = re.sub(r"\{([\w.]+)(=[^}]*)?\}", lambda m: value(m.group(1)), route.template.text)
    bound = {v.field_path.split(".")[0] for v in route.template.variables}
    query = {f.name: getattr(request, f.name) for f in request.DESCRIPTOR.fields
             if f.type == f.TYPE_STRING and f.name not in bound and getattr(request, f.name)}
    return path, (query if route.body != "*" else {})


async def http_answer(session, base: str, route, key: str | None) -> str:
    from google.protobuf import json_format

    from imagesearch.http.transcode import message_class

    request = fill(message_class(route.method.input_type)())
    path, query = http_request(route, request)
    headers = {"X-API-Key": key} if key else {}
    # A body field (CreateAlias's `alias`) carries what names the collection; "*": the path does.
    body = json_format.MessageToJson(getattr(request, route.body)) if route.body not in ("", "*") else (
        "{}" if route.body else None)
    async with session.request(route.http_method, base + path, params=query, data=body, headers=headers) as reply:
        text = await reply.text()
        if reply.status in (401, 403):
            return json.loads(text)["error"]["details"][0]["reason"]
        assert reply.status != 404 or "no API method" not in text, f"{route.http_method} {path} is not served"
        return ALLOWED


@pytest.mark.asyncio(loop_scope="session")
async def test_matrix_every_rpc_every_key_grpc_and_http(matrix, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import aiohttp

    from imagesearch.http.routes import routes_of

    fake, base, keys = matrix
    failures, http_rpcs = [], 0
    async with grpc.aio.insecure_channel(fake.address) as channel, aiohttp.ClientSession() as session:
        for method in all_methods():
            routes = routes_of(method)
            http_rpcs += bool(routes)
            for who, expected in expectations(RPC_ROLES[method.full_name]).items():
                key = keys[who] if who else None
                got = await grpc_answer(channel, method, key)
                if got != expected:
                    failures.append(f"gRPC {method.name} with {who}: {got}, expected {expected}")
                for route in routes:
                    got = await http_answer(session, base, route, key)
                    if got != expected:
                        failures.append(f"HTTP {route.http_method} {route.template.text} with {who}: {got}, "
                                        f"expected {expected}")
    assert not failures, "\n".join(failures)
    # Refusals end calls cleanly: grpc logs no handler error (a stream's first request is
    # checked before its handler starts).
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    # Every RPC but the client-streaming ImportItems has an HTTP route (routes.routes_of says why).
    assert http_rpcs == len(all_methods()) - sum(m.client_streaming for m in all_methods())


def test_prefix_pattern_syntax() -> None:
    from imagesearch.auth.scopes import InvalidGrant, allows

    cases = {  # pattern -> (collections it covers, collections it does not)
        "photos": (["photos"], ["photos2", "photo", "Photos", "x-photos"]),
        "tenant-a-*": (["tenant-a-", "tenant-a-x", "tenant-a-x-y"], ["tenant-a", "tenant-b-x", "xtenant-a-x"]),
        "t*": (["t", "tenant"], ["", "a-t"]),
        "*": (["anything", "", "a*"], []),
    }
    for pattern, (covered, not_covered) in cases.items():
        grants = (Grant.parse(f"read:{pattern}"),)
        assert str(grants[0]) == f"read:{pattern}"
        assert all(allows(grants, Role.READ, c) for c in covered), pattern
        assert not any(allows(grants, Role.READ, c) for c in not_covered), pattern
    for bad in ("read:*a", "read:a*b*", "read:**", "write", "READ:*", "read :x", ":x"):
        with pytest.raises(InvalidGrant):
            Grant.parse(bad)
    # No collection named: read anywhere covers it, admin only on `*` (a tenant's admin cannot
    # act beyond its prefix: key management, server-wide operations).
    assert allows((Grant.parse("read:tenant-a-*"),), Role.READ, None)
    assert not allows((Grant.parse("admin:tenant-a-*"),), Role.ADMIN, None)
    assert allows((Grant.parse("admin:*"),), Role.ADMIN, None)

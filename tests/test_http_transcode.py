"""The HTTP/JSON transcoder without the imagesearch server: path templates, routes read from
the real proto's google.api.http rules, request building, error JSON, the OpenAPI document;
and the gateway over a real gRPC channel for the failures the real server cannot produce."""

from __future__ import annotations

import base64
import json

import aiohttp
import grpc
import pytest
from imagesearch.api.errors import ApiError, invalid
from imagesearch.http import GatewayConfig, HttpGateway
from imagesearch.http.comments import Comments
from imagesearch.http.errors import HttpError, status_json
from imagesearch.http.handler import forwarded_metadata
from imagesearch.http.openapi import build_openapi, default_services
from imagesearch.http.routes import RouteTable
from imagesearch.http.template import PathTemplate, TemplateError
from imagesearch.http.transcode import FilePart, HttpInput, build_request, response_json
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from imagesearch_client.v1.error_reason_pb2 import ErrorReason
from multidict import CIMultiDict
from openapi_spec_validator import validate

SERVICE = pb.DESCRIPTOR.services_by_name["ImageSearchService"]
ROUTES = RouteTable.from_services(SERVICE)


# --- path templates -------------------------------------------------------------------

def test_template_binds_a_multi_segment_variable_and_a_verb() -> None:
    t = PathTemplate.parse("/v1/{parent=collections/*}/items:search")
    assert t.verb == "search"
    assert t.match("/v1/collections/corel/items:search") == {"parent": "collections/corel"}
    assert t.match("/v1/collections/corel/items") is None  # no verb
    assert t.match("/v1/collections/corel/items:count") is None  # another verb
    assert t.match("/v1/collections/a/b/items:search") is None  # '*' is one segment
    assert t.match("/v1/collections//items:search") is None  # '*' is never empty


def test_star_matches_one_raw_segment_so_an_encoded_slash_stays_in_the_name() -> None:
    t = PathTemplate.parse("/v1/{name=collections/*/items/*}")
    # The item ID "shoes/red 1" percent-encoded, as in its resource name.
    assert t.match("/v1/collections/c/items/shoes%2Fred%201") == {"name": "collections/c/items/shoes%2Fred%201"}
    assert t.match("/v1/collections/c/items/shoes/red") is None


def test_single_segment_variable_is_decoded_and_double_star_takes_the_rest() -> None:
    assert PathTemplate.parse("/v1/things/{id}").match("/v1/things/a%2Fb%20c") == {"id": "a/b c"}
    t = PathTemplate.parse("/v1/{path=files/**}:get")
    assert t.match("/v1/files/a/b/c:get") == {"path": "files/a/b/c"}
    assert t.match("/v1/files:get") == {"path": "files"}


@pytest.mark.parametrize("bad", ["v1/x", "/v1/{x=a/**/b}", "/v1/{1x}", "/v1/{x", "/v1/a b", "/v1/{a={b}}"])
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(TemplateError):
        PathTemplate.parse(bad)


def test_openapi_path_names_each_star() -> None:
    t = PathTemplate.parse("/v1/{name=collections/*/items/*}:x")
    assert t.openapi_path({"name": ["collection", "item"]}) == "/v1/collections/{collection}/items/{item}:x"


# --- routes from the proto ------------------------------------------------------------

@pytest.mark.parametrize(
    ("method", "path", "rpc", "bindings"),
    [
        ("POST", "/v1/collections", "CreateCollection", {}),
        ("GET", "/v1/collections", "ListCollections", {}),
        ("GET", "/v1/collections/corel", "GetCollection", {"name": "collections/corel"}),
        ("PATCH", "/v1/collections/corel", "UpdateCollection", {"collection.name": "collections/corel"}),
        ("DELETE", "/v1/collections/corel", "DeleteCollection", {"name": "collections/corel"}),
        ("POST", "/v1/collections/corel/items", "CreateItem", {"parent": "collections/corel"}),
        ("GET", "/v1/collections/corel/items", "ListItems", {"parent": "collections/corel"}),
        ("GET", "/v1/collections/corel/items/a%2Fb", "GetItem", {"name": "collections/corel/items/a%2Fb"}),
        ("PATCH", "/v1/collections/c/items/x", "UpdateItem", {"item.name": "collections/c/items/x"}),
        ("DELETE", "/v1/collections/c/items/x", "DeleteItem", {"name": "collections/c/items/x"}),
        ("GET", "/v1/collections/c/items:batchGet", "BatchGetItems", {"parent": "collections/c"}),
        ("POST", "/v1/collections/c/items:batchDelete", "BatchDeleteItems", {"parent": "collections/c"}),
        ("POST", "/v1/collections/c/items:purge", "PurgeItems", {"parent": "collections/c"}),
        ("GET", "/v1/collections/c/items:count", "CountItems", {"parent": "collections/c"}),
        ("POST", "/v1/collections/c/items:search", "SearchItems", {"parent": "collections/c"}),
        ("POST", "/v1/collections/c/items:findDuplicates", "FindDuplicates", {"parent": "collections/c"}),
        ("POST", "/v1/images:moderate", "ModerateImage", {}),
        ("GET", "/v1/collections/c/people", "ListPeople", {"parent": "collections/c"}),
        ("GET", "/v1/collections/c/people/person-1", "GetPerson", {"name": "collections/c/people/person-1"}),
        ("PATCH", "/v1/collections/c/people/person-1", "UpdatePerson", {"person.name": "collections/c/people/person-1"}),
        ("POST", "/v1/collections/c/people/person-1:merge", "MergePeople", {"name": "collections/c/people/person-1"}),
        ("DELETE", "/v1/collections/c/people/person-1", "DeletePerson", {"name": "collections/c/people/person-1"}),
        ("PATCH", "/v1/collections/c/items/a%2Fb/faces/0", "UpdateFace", {"face.name": "collections/c/items/a%2Fb/faces/0"}),
        ("POST", "/v1/collections/c/people:recluster", "ReclusterPeople", {"parent": "collections/c"}),
    ],
)
def test_every_http_rule_of_the_proto_routes(method: str, path: str, rpc: str, bindings: dict) -> None:
    found = ROUTES.find(method, path)
    assert found.route.method.name == rpc and found.bindings == bindings


def test_routes_cover_every_rpc_but_the_client_stream() -> None:
    bound = {r.method.name for r in ROUTES.routes}
    assert bound == {m.name for m in SERVICE.methods} - {"ImportItems"}


def test_wrong_method_and_unknown_path_are_told_apart() -> None:
    assert ROUTES.find("GET", "/v1/collections/c/items:search") == "method"
    assert ROUTES.find("GET", "/v2/collections") is None
    assert ROUTES.find("GET", "/v1/collections/c/items/a/b") is None


# --- request building -----------------------------------------------------------------

def _request(method: str, path: str, **http_input) -> object:
    return build_request(ROUTES.find(method, path), HttpInput(**http_input))


def test_search_by_text_from_a_json_body_and_the_path() -> None:
    req = _request("POST", "/v1/collections/corel/items:search", json_body=b'{"text":"beach","topK":3}')
    assert req == pb.SearchItemsRequest(parent="collections/corel", text="beach", top_k=3)


def test_empty_body_is_an_empty_message() -> None:
    req = _request("POST", "/v1/collections/c/items:findDuplicates", json_body=b"")
    assert req == pb.FindDuplicatesRequest(parent="collections/c")


def test_base64_image_in_json() -> None:
    body = json.dumps({"image": {"content": base64.b64encode(b"\x89PNG..").decode()}, "top_k": 2}).encode()
    req = _request("POST", "/v1/collections/c/items:search", json_body=body)
    assert req.image.content == b"\x89PNG.." and req.top_k == 2


def test_get_takes_scalars_by_name_and_messages_as_json_text() -> None:
    query = [("page_size", "2"), ("pageToken", "abc"), ("filter", '{"must":[{"match":{"key":"class","integer":3}}]}')]
    req = _request("GET", "/v1/collections/corel/items", query=query)
    assert req.parent == "collections/corel" and req.page_size == 2 and req.page_token == "abc"
    assert req.filter.must[0].match.key == "class" and req.filter.must[0].match.integer == 3


def test_repeated_query_parameters_and_bools() -> None:
    query = [("names", "collections/c/items/a"), ("names", "collections/c/items/b%2Fc"), ("allow_missing", "true")]
    req = _request("GET", "/v1/collections/c/items:batchGet", query=query)
    assert list(req.names) == ["collections/c/items/a", "collections/c/items/b%2Fc"] and req.allow_missing


def test_body_field_plus_query_field_mask_plus_path_name() -> None:
    req = _request("PATCH", "/v1/collections/corel", json_body=b'{"description":"photos","maxNsfwScore":0.5}',
                   query=[("update_mask", "description,max_nsfw_score")])
    assert req.collection.name == "collections/corel" and req.collection.description == "photos"
    assert list(req.update_mask.paths) == ["description", "max_nsfw_score"]


def test_multipart_insert_maps_the_file_to_image_content_and_parts_to_fields() -> None:
    form = [("item_id", "shoes/red 1"), ("metadata", '{"class":3,"tags":["a"]}'),
            ("duplicate_policy", "DUPLICATE_POLICY_REJECT")]
    req = _request("POST", "/v1/collections/c/items", form_fields=form, files=[FilePart("image", b"JPEG")])
    assert req.parent == "collections/c" and req.item_id == "shoes/red 1" and req.image.content == b"JPEG"
    assert dict(req.item.metadata) == {"class": 3, "tags": ["a"]}
    assert req.duplicate_policy == pb.DUPLICATE_POLICY_REJECT


def test_multipart_search_by_file_with_top_k() -> None:
    req = _request("POST", "/v1/collections/c/items:search", form_fields=[("top_k", "5")], files=[FilePart("image", b"x")])
    assert req.image.content == b"x" and req.top_k == 5


def _reason(error: HttpError) -> tuple[int, str, str]:
    body = error.body()["error"]
    info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))
    return body["code"], body["status"], info["reason"]


@pytest.mark.parametrize(
    ("kwargs", "blamed"),
    [
        ({"json_body": b"{not json"}, ""),
        ({"json_body": b"[1]"}, ""),
        ({"json_body": b'{"nope": 1}'}, ""),
        ({"json_body": b'{"text": "x"}', "query": [("top_k", "3")]}, "top_k"),  # body "*": no query
        ({"form_fields": [("metadata", "{bad")], "files": [FilePart("image", b"x")]}, "metadata"),
        ({"files": [FilePart("item_id", b"x")]}, "item_id"),
        ({"form_fields": [("top_k", "many")]}, ""),
    ],
)
def test_bad_input_is_a_400_with_error_info(kwargs: dict, blamed: str) -> None:
    path = "/v1/collections/c/items:search" if "top_k" in str(kwargs) else "/v1/collections/c/items"
    with pytest.raises(HttpError) as caught:
        _request("POST", path, **kwargs)
    assert _reason(caught.value) == (400, "INVALID_ARGUMENT", "FIELD_INVALID")
    if blamed:
        bad_request = next(d for d in caught.value.body()["error"]["details"] if d["@type"].endswith("BadRequest"))
        assert bad_request["fieldViolations"][0]["field"] == blamed


def test_query_bool_must_be_a_bool() -> None:
    with pytest.raises(HttpError):
        _request("GET", "/v1/collections/c/items:batchGet", query=[("allow_missing", "maybe")])


# --- responses and errors -------------------------------------------------------------

def test_response_json_is_proto3_json_with_defaults() -> None:
    value = response_json(pb.ListItemsResponse(items=[pb.Item(name="collections/c/items/a", item_id="a")]))
    # Fields without presence are always there (nextPageToken "" on the last page);
    # unset messages and optional fields are left out; repeated fields are there, empty or not.
    assert value == {"items": [{"name": "collections/c/items/a", "itemId": "a", "missingFeatures": [], "textLines": []}],
                     "nextPageToken": ""}
    assert response_json(pb.CountItemsResponse(item_count=7)) == {"itemCount": "7"}  # int64 as a string


def test_error_json_has_http_code_status_name_and_typed_details() -> None:
    error = ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.COLLECTION_NOT_FOUND, "no collection x", metadata={"collection": "x"})
    body = status_json(404, error.to_status_proto())["error"]
    assert body["code"] == 404 and body["status"] == "NOT_FOUND" and body["message"] == "no collection x"
    assert body["details"] == [{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "COLLECTION_NOT_FOUND", "domain": "imagesearch.v1", "metadata": {"collection": "x"},
    }]
    assert HttpError.from_api_error(invalid("top_k", "too many")).http_status == 400


def test_credentials_are_forwarded_as_authorization_metadata() -> None:
    assert forwarded_metadata(CIMultiDict({"Authorization": "Bearer k1"})) == (("authorization", "Bearer k1"),)
    assert forwarded_metadata(CIMultiDict({"X-API-Key": "k2"})) == (("authorization", "Bearer k2"),)
    assert forwarded_metadata(CIMultiDict()) == ()
    with pytest.raises(HttpError):
        forwarded_metadata(CIMultiDict({"X-API-Key": "k\u00e9"}))


# --- OpenAPI --------------------------------------------------------------------------

def test_openapi_document_is_valid_and_covers_every_route() -> None:
    services = default_services()
    doc = build_openapi(services, Comments.load([pb.DESCRIPTOR]))
    validate(doc)  # OpenAPI 3.1 (openapi-spec-validator)
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    # Both services: ImageSearchService and ImageSearchAdminService (admin.proto).
    assert operations == {r.method.name for r in RouteTable.from_services(*services).routes} | {"Healthz"}
    assert {"CreateSnapshot", "UpdateAlias", "DeleteApiKey"} <= operations
    search = doc["paths"]["/v1/collections/{collection}/items:search"]["post"]
    assert set(search["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert set(search["responses"]["200"]["content"]) == {"application/json", "application/x-ndjson"}
    item = doc["paths"]["/v1/collections/{collection}/items/{item}"]
    assert set(item) == {"get", "patch", "delete"}
    # Descriptions come from the proto's comments.
    assert "streamed best first" in search["description"] + search["summary"]
    assert "64 KiB" in doc["components"]["schemas"]["imagesearch.v1.Item"]["properties"]["metadata"]["description"]


def test_update_mask_paths_are_kept_as_written() -> None:
    # Through json_format's FieldMask form, "metadata.camelKey" would become "metadata.camel_key".
    req = _request("PATCH", "/v1/collections/c/items/x", json_body=b'{"metadata":{"camelKey":1}}',
                   query=[("update_mask", "metadata.camelKey")])
    assert list(req.update_mask.paths) == ["metadata.camelKey"] and req.item.name == "collections/c/items/x"


# --- the gateway over a real channel, against a stub servicer -------------------------
# The real server cannot be made to fail in the middle of a search stream, nor does it
# read credentials yet: a stub servicer on a real grpc.aio server stands in for those two.

class _StubService(pb_grpc.ImageSearchServiceServicer):
    """SearchItems streams three hits; text "fail" fails first, "late" after two hits.
    Each hit's item_id is the authorization metadata the call carried."""

    async def SearchItems(self, request, context):
        auth = dict(context.invocation_metadata()).get("authorization", "")
        for rank in (1, 2, 3):
            if (request.text, rank) in (("fail", 1), ("late", 3)):
                error = ApiError(grpc.StatusCode.UNAVAILABLE, ErrorReason.INFERENCE_UNAVAILABLE, "Triton is down")
                await context.abort_with_status(error.to_status())
            yield pb.SearchItemsResponse(item=pb.Item(name=f"{request.parent}/items/{rank}", item_id=auth), rank=rank)


# The fixture runs in the session's loop (asyncio_default_fixture_loop_scope), so must its tests.
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def stub_gateway():
    server = grpc.aio.server()
    pb_grpc.add_ImageSearchServiceServicer_to_server(_StubService(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = HttpGateway(GatewayConfig("127.0.0.1", 0, f"127.0.0.1:{port}", 1 << 20, 1.0))
    http_port = await gateway.start()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{http_port}") as session:
        yield session
    await gateway.stop()
    await server.stop(None)


async def _search(session, text: str, **headers: str) -> tuple[int, str, str]:
    async with session.post("/v1/collections/c/items:search", data=json.dumps({"text": text}), headers=headers) as r:
        return r.status, r.headers["Content-Type"], await r.text()


@SESSION_LOOP
async def test_stream_error_after_the_first_hit_is_the_last_ndjson_line(stub_gateway) -> None:
    status, content_type, body = await _search(stub_gateway, "late", Accept="application/x-ndjson")
    lines = [json.loads(line) for line in body.splitlines()]
    assert (status, content_type) == (200, "application/x-ndjson")
    assert [line["rank"] for line in lines[:2]] == [1, 2]
    assert lines[2]["error"]["code"] == 503 and lines[2]["error"]["details"][0]["reason"] == "INFERENCE_UNAVAILABLE"
    assert len(lines) == 3


@SESSION_LOOP
async def test_stream_error_is_the_status_of_a_json_array_or_of_a_stream_before_its_first_hit(stub_gateway) -> None:
    for text, headers in (("late", {}), ("fail", {}), ("fail", {"Accept": "application/x-ndjson"})):
        status, content_type, body = await _search(stub_gateway, text, **headers)
        assert (status, content_type) == (503, "application/json"), (text, headers)
        assert json.loads(body)["error"]["status"] == "UNAVAILABLE"


@SESSION_LOOP
async def test_credentials_reach_the_grpc_call(stub_gateway) -> None:
    for headers, expected in (({"X-API-Key": "k1"}, "Bearer k1"), ({"Authorization": "Bearer k2"}, "Bearer k2"), ({}, "")):
        status, _, body = await _search(stub_gateway, "ok", **headers)
        assert status == 200 and {hit["item"]["itemId"] for hit in json.loads(body)} == {expected}


@SESSION_LOOP
async def test_unimplemented_rpc_maps_to_501(stub_gateway) -> None:
    async with stub_gateway.get("/v1/collections") as r:
        assert r.status == 501 and (await r.json())["error"]["status"] == "UNIMPLEMENTED"

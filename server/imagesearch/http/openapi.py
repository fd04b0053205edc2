"""The OpenAPI 3.1 document of the HTTP/JSON API, generated from the services' descriptors
and their `google.api.http` rules (the same routes the gateway serves).

Each `*` of a path template becomes a path parameter named after its segment of the
resource pattern ("collections/{collection}/items/{item}"), so OpenAPI tools build the
same URLs the gateway matches; they percent-encode the item ID as resource names do.

    python -m imagesearch.http.openapi > openapi.json
"""

from __future__ import annotations

import json
import sys

from google.api import resource_pb2
from google.protobuf import any_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, ServiceDescriptor

from imagesearch.http.comments import Comments
from imagesearch.http.routes import Route, RouteTable
from imagesearch.http.schemas import REF_PREFIX, SchemaSet, behaviors
from imagesearch.http.transcode import resolve_path

ERROR_SCHEMA = "Error"
JSON, NDJSON, MULTIPART = "application/json", "application/x-ndjson", "multipart/form-data"


def build_openapi(services: list[ServiceDescriptor], comments: Comments | None = None) -> dict:
    """The document: one operation per route, the schemas they use, /healthz."""
    comments = comments or Comments()
    schemas = SchemaSet(comments)
    paths: dict[str, dict] = {}
    for route in RouteTable.from_services(*services).routes:
        path = route.template.openapi_path(_param_names(route))
        paths.setdefault(path, {})[route.http_method.lower()] = _operation(route, schemas, comments)
    paths["/healthz"] = {"get": _health_operation()}
    schemas.schemas[ERROR_SCHEMA] = _error_schema(schemas)
    files = {s.file.name for s in services}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": ", ".join(s.full_name for s in services),
            "version": services[0].file.package.rsplit(".", 1)[-1],
            "description": "\n\n".join(filter(None, [comments["file:" + f] for f in sorted(files)]))
            or "HTTP/JSON transcoding of the gRPC API (google.api.http rules).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.schemas.items()))},
    }


def _operation(route: Route, schemas: SchemaSet, comments: Comments) -> dict:
    method = route.method
    path_fields = {v.field_path.split(".")[0] for v in route.template.variables}
    op: dict = {
        "operationId": method.name,
        "tags": [method.containing_service.name],
        "summary": comments[method.full_name].split("\n\n")[0].replace("\n", " ") or method.name,
        "description": comments[method.full_name],
        "parameters": _path_parameters(route) + _query_parameters(route, path_fields, schemas),
        "responses": {"200": _ok_response(route, schemas), "default": {
            "description": "An error: the HTTP status mapped from the gRPC code, with ErrorInfo in details.",
            "content": {JSON: {"schema": {"$ref": REF_PREFIX + ERROR_SCHEMA}}},
        }},
    }
    if route.body:
        op["requestBody"] = _request_body(route, path_fields, schemas)
    if op["description"] in ("", op["summary"]):
        del op["description"]
    return op


def _param_names(route: Route) -> dict[str, list[str]]:
    """Per path variable, a name for each of its `*` segments."""
    names = {}
    for var in route.template.variables:
        segments = var.pattern.split("/")
        pattern = _resource_pattern(route.method.input_type, var.field_path)
        named = pattern.split("/") if pattern and len(pattern.split("/")) == len(segments) else []
        out = []
        for i, segment in enumerate(segments):
            if segment in ("*", "**"):
                fallback = f"{var.field_path.replace('.', '_')}_{len(out) + 1}"
                out.append(named[i].strip("{}") if named and named[i].startswith("{") else fallback)
        names[var.field_path] = out
    return names


def _resource_pattern(request: Descriptor, field_path: str) -> str:
    """The resource pattern of the name a field holds: its resource_reference's type, or
    the resource of the message whose identifier it is."""
    fields = resolve_path(request, field_path)
    leaf, owner = fields[-1], fields[-1].containing_type
    reference = leaf.GetOptions().Extensions[resource_pb2.resource_reference].type
    for message in _messages(request.file):
        resource = message.GetOptions().Extensions[resource_pb2.resource]
        if (reference and resource.type == reference) or (not reference and message is owner):
            return resource.pattern[0] if resource.pattern else ""
    return ""


def _messages(file) -> list[Descriptor]:
    return list(file.message_types_by_name.values())


def _path_parameters(route: Route) -> list[dict]:
    params = []
    for var in route.template.variables:
        for name in _param_names(route)[var.field_path]:
            params.append({
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": f"The {name} ID in `{var.field_path}`, percent-encoded as in resource names.",
            })
    return params


def _query_parameters(route: Route, path_fields: set[str], schemas: SchemaSet) -> list[dict]:
    """The top-level request fields neither the path nor the body carries."""
    if route.body == "*":
        return []
    params = []
    for f in route.method.input_type.fields:
        if f.name in path_fields or f.name == route.body:
            continue
        param: dict = {"name": f.name, "in": "query", "required": False}
        schema = schemas.field(f)
        if schema.get("description"):
            param["description"] = schema.pop("description")
        if f.message_type is not None and not f.is_repeated and "$ref" in schema:
            param["content"] = {JSON: {"schema": schema}}  # message fields travel as JSON text
        else:
            param["schema"] = schema
            if f.is_repeated:
                param.update(style="form", explode=True)
        params.append(param)
    return params


def _request_body(route: Route, path_fields: set[str], schemas: SchemaSet) -> dict:
    request = route.method.input_type
    if route.body != "*":
        schema = schemas.field(request.fields_by_name[route.body])
        return {"required": True, "content": {JSON: {"schema": schema}}}
    content = {JSON: {"schema": schemas.message(request, exclude=frozenset(path_fields))}}
    form = _multipart_schema(request, path_fields, schemas)
    if form is not None:
        content[MULTIPART] = {"schema": form}
    return {"required": True, "content": content}


def _multipart_schema(request: Descriptor, path_fields: set[str], schemas: SchemaSet) -> dict | None:
    """For requests with an image-like field (a message with one bytes field): the same
    fields as form parts, the image as a file part; the resource's fields by their own
    names (part "metadata" is item.metadata)."""
    files = [f for f in request.fields if f.message_type is not None and _one_bytes_field(f.message_type)]
    if not files:
        return None
    properties: dict = {}
    for f in request.fields:
        if f.name in path_fields:
            continue
        if f in files:
            properties[f.name] = {"type": "string", "contentMediaType": "application/octet-stream",
                                  "description": f"The file's bytes ({f.message_type.name} as JSON also works)."}
        elif f.message_type is not None and f.message_type.GetOptions().HasExtension(resource_pb2.resource):
            for sub in f.message_type.fields:
                if "OUTPUT_ONLY" not in behaviors(sub) and "IDENTIFIER" not in behaviors(sub):
                    properties[sub.name] = schemas.field(sub)
        else:
            properties[f.name] = schemas.field(f)
    return {"type": "object", "properties": properties, "required": [f.name for f in files]}


def _one_bytes_field(message: Descriptor) -> bool:
    return sum(f.type == FieldDescriptor.TYPE_BYTES for f in message.fields) == 1


def _ok_response(route: Route, schemas: SchemaSet) -> dict:
    output = route.method.output_type
    schema = schemas.ref(output)
    if route.response_body:
        schema = schemas.field(output.fields_by_name[route.response_body])
    if not route.server_streaming:
        return {"description": output.name, "content": {JSON: {"schema": schema}}}
    return {
        "description": f"A stream of {output.name}: one JSON array, or with `Accept: {NDJSON}` one JSON object "
        "per line as each arrives (an error after the first line is a last line {\"error\": ...}).",
        "content": {JSON: {"schema": {"type": "array", "items": schema}}, NDJSON: {"schema": schema}},
    }


def _health_operation() -> dict:
    status = {"type": "object", "properties": {"status": {"type": "string", "enum": ["SERVING", "NOT_SERVING"]}}}
    return {
        "operationId": "Healthz",
        "tags": ["Health"],
        "summary": "The server's gRPC health (grpc.health.v1), for load balancers and probes.",
        "responses": {
            "200": {"description": "Serving", "content": {JSON: {"schema": status}}},
            "503": {"description": "Not serving (starting, stopping, or the inference server is down)",
                    "content": {JSON: {"schema": status}}},
        },
    }


def _error_schema(schemas: SchemaSet) -> dict:
    return {
        "type": "object",
        "description": "AIP-193 error: google.rpc.Status with the HTTP status as `code`.",
        "required": ["error"],
        "properties": {"error": {"type": "object", "properties": {
            "code": {"type": "integer", "description": "The HTTP status."},
            "message": {"type": "string", "description": "For people; may change between releases."},
            "status": {"type": "string", "description": "The gRPC status code's name, e.g. NOT_FOUND."},
            "details": {"type": "array", "items": schemas.ref(any_pb2.Any.DESCRIPTOR),
                        "description": "google.rpc.ErrorInfo (always; its `reason` is stable) and "
                        "google.rpc.BadRequest (validation errors), each with its \"@type\"."},
        }}},
    }


def default_services() -> list[ServiceDescriptor]:
    """The API this server serves over HTTP."""
    from imagesearch_client.v1 import admin_pb2, imagesearch_pb2

    return [*imagesearch_pb2.DESCRIPTOR.services_by_name.values(), *admin_pb2.DESCRIPTOR.services_by_name.values()]


def main() -> int:
    services = default_services()
    comments = Comments.load(sorted({s.file for s in services}, key=lambda f: f.name))
    json.dump(build_openapi(services, comments), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Builds an RPC's request message from an HTTP request (AIP-127 transcoding) and renders
response messages as JSON.

Where each request field comes from:
- path variables bind the fields their template names (raw text, see template.py);
- the body: with `body: "*"` it is the whole request as JSON, with `body: "<field>"` it
  is that field's JSON, without a body there is none;
- query parameters set the fields neither the path nor the body covers, by field path
  ("page_size", "collection.description"); a repeated field repeats the parameter;
  a message-typed field takes its JSON text ("filter={...}"), except the well-known
  types whose JSON is a string (FieldMask, Timestamp, Duration), which take that string;
- multipart/form-data parts (instead of a JSON body) are named and converted like query
  parameters; a file part sets a bytes field, or the one bytes field of a message field
  (part "image" sets image.content).
A name that is not a request field may name a field of the request's resource field
(the one whose message is a google.api.resource): "metadata" is item.metadata in a
CreateItem request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from google.api import resource_pb2
from google.protobuf import field_mask_pb2, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from imagesearch.api.errors import invalid
from imagesearch.http.errors import HttpError
from imagesearch.http.routes import RouteMatch

# Well-known types whose JSON form is a string (so a query parameter holds it unquoted).
_STRING_JSON_TYPES = frozenset(
    {"google.protobuf.FieldMask", "google.protobuf.Timestamp", "google.protobuf.Duration"}
)
_FIELD_MASK = field_mask_pb2.FieldMask.DESCRIPTOR
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


@dataclass(frozen=True)
class FilePart:
    """A multipart file part: its form name and bytes."""

    name: str
    content: bytes


@dataclass
class HttpInput:
    """What an HTTP request carries besides its path."""

    query: list[tuple[str, str]] = field(default_factory=list)
    json_body: bytes | None = None  # the raw body, when not multipart
    form_fields: list[tuple[str, str]] = field(default_factory=list)  # multipart text parts
    files: list[FilePart] = field(default_factory=list)  # multipart file parts


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def build_request(match: RouteMatch, http_input: HttpInput) -> Message:
    """The request message for `match`; HttpError (400) when the input does not fit."""
    route = match.route
    descriptor = route.method.input_type
    tree = _body_tree(route.body, http_input.json_body)
    masks: list[tuple[str, str]] = []
    for name, text in http_input.query:
        path = resolve_path(descriptor, name)
        if route.body == "*" or (route.body and path[0].name == route.body):
            raise _bad(name, f"query parameter {name!r}: this method takes it in the body")
    for name, text in [*http_input.form_fields, *http_input.query]:
        if resolve_path(descriptor, name)[-1].message_type is _FIELD_MASK:
            masks.append((name, text))  # set after parsing, see _set_mask
        else:
            _set_text(tree, descriptor, name, text, repeated_ok=True)
    for name, text in match.bindings.items():
        _set_text(tree, descriptor, name, text, repeated_ok=False)
    request = message_class(descriptor)()
    try:
        json_format.ParseDict(tree, request)
    except json_format.ParseError as exc:
        raise _bad("", f"bad request: {exc}") from exc
    for name, text in masks:
        _set_mask(request, name, text)
    for part in http_input.files:
        _set_file(request, part)
    return request


def resolve_path(descriptor: Descriptor, name: str) -> list[FieldDescriptor]:
    """The fields along a dotted path (proto or JSON names), with the resource shortcut."""
    parts = name.split(".")
    first = _field(descriptor, parts[0])
    if first is None:
        resource = _resource_field(descriptor)
        if resource is not None and _field(resource.message_type, parts[0]) is not None:
            return [resource, *resolve_path(resource.message_type, name)]
        raise _bad(name, f"{descriptor.name} has no field {parts[0]!r}")
    if len(parts) == 1:
        return [first]
    if first.message_type is None or _repeated(first):
        raise _bad(name, f"{name!r}: {first.name} has no subfields")
    return [first, *resolve_path(first.message_type, ".".join(parts[1:]))]


def _field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    found = descriptor.fields_by_name.get(name)
    if found is None:
        found = next((f for f in descriptor.fields if f.json_name == name), None)
    return found


def _resource_field(descriptor: Descriptor) -> FieldDescriptor | None:
    for f in descriptor.fields:
        if f.message_type is not None and f.message_type.GetOptions().HasExtension(resource_pb2.resource):
            return f
    return None


def _repeated(f: FieldDescriptor) -> bool:
    return f.is_repeated


def _body_tree(body: str, raw: bytes | None) -> dict:
    """The JSON body as the request's dict tree."""
    if not body or not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(body if body != "*" else "", f"the body is not JSON: {exc}") from exc
    if body == "*":
        if not isinstance(value, dict):
            raise _bad("", "the body must be a JSON object")
        return value
    return {body: value}


def _set_text(tree: dict, descriptor: Descriptor, name: str, text: str, repeated_ok: bool) -> None:
    """Sets the field at `name` in `tree` from its text form (query, form or path)."""
    path = resolve_path(descriptor, name)
    leaf = path[-1]
    node = tree
    for f in path[:-1]:
        key = f.json_name if f.json_name in node else f.name
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise _bad(name, f"{name!r} conflicts with a non-object {f.name}")
        node = child
    value = _text_value(leaf, name, text)
    # The text form replaces what the JSON body said about the field.
    if leaf.json_name != leaf.name:
        node.pop(leaf.json_name, None)
    if _repeated(leaf) and leaf.message_type is None:
        if not repeated_ok:
            raise _bad(name, f"{name!r} is a list and cannot be bound from the path")
        existing = node.get(leaf.name)
        node[leaf.name] = (existing if isinstance(existing, list) else []) + [value]
    else:
        node[leaf.name] = value


def _text_value(f: FieldDescriptor, name: str, text: str) -> Any:
    if f.message_type is not None:
        if f.message_type.full_name in _STRING_JSON_TYPES:
            return text
        try:
            return json.loads(text)
        except ValueError as exc:
            raise _bad(name, f"{name!r} must be JSON ({f.message_type.name}): {exc}") from exc
    if f.type == FieldDescriptor.TYPE_BOOL:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _bad(name, f"{name!r} must be true or false, not {text!r}")
    return text  # ParseDict converts numbers, enum names and base64 from their text


def _set_mask(request: Message, name: str, text: str) -> None:
    """A field mask from a query parameter, paths taken as written ("max_nsfw_score",
    "metadata.camelKey"). Its JSON form would be lowerCamelCase, converted back to
    snake_case by json_format, which would mangle metadata keys holding capitals."""
    target = request
    for f in resolve_path(request.DESCRIPTOR, name):
        target = getattr(target, f.name)
    target.paths.extend(p.strip() for p in text.split(",") if p.strip())


def _set_file(request: Message, part: FilePart) -> None:
    path = resolve_path(request.DESCRIPTOR, part.name)
    target = request
    for f in path[:-1]:
        target = getattr(target, f.name)
    leaf = path[-1]
    if leaf.type == FieldDescriptor.TYPE_BYTES and not _repeated(leaf):
        setattr(target, leaf.name, part.content)
        return
    if leaf.message_type is not None and not _repeated(leaf):
        fields = [f for f in leaf.message_type.fields if f.type == FieldDescriptor.TYPE_BYTES]
        if len(fields) == 1:
            setattr(getattr(target, leaf.name), fields[0].name, part.content)
            return
    raise _bad(part.name, f"file part {part.name!r}: that field does not take bytes")


def response_json(message: Message, response_body: str = "") -> Any:
    """The proto3 JSON form of a response (lowerCamelCase names, int64 as strings,
    fields without presence always present so that a page's nextPageToken is "" at the end)."""
    value = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    if response_body:
        f = message.DESCRIPTOR.fields_by_name[response_body]
        return value.get(f.json_name)
    return value


def _bad(field_name: str, message: str) -> HttpError:
    return HttpError.from_api_error(invalid(field_name, message))

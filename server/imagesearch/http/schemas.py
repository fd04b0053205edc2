"""JSON Schemas (OpenAPI 3.1 flavour) of protobuf messages in their proto3 JSON form:
lowerCamelCase property names, 64-bit integers as strings, enums by name, bytes as base64,
well-known types in their special JSON forms."""

from __future__ import annotations

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from imagesearch.http.comments import Comments

REF_PREFIX = "#/components/schemas/"

_T = FieldDescriptor
_SCALARS = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # proto3 JSON writes 64-bit integers as strings (JavaScript numbers lose precision).
    _T.TYPE_INT64: {"type": "string", "format": "int64"},
    _T.TYPE_SINT64: {"type": "string", "format": "int64"},
    _T.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    _T.TYPE_UINT64: {"type": "string", "format": "uint64"},
    _T.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
_WELL_KNOWN = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated field paths."},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}


def behaviors(f: FieldDescriptor) -> set[str]:
    """The field's google.api.field_behavior names, e.g. {"REQUIRED"}."""
    options = f.GetOptions()
    if not options.Extensions[field_behavior_pb2.field_behavior]:
        return set()
    names = field_behavior_pb2.FieldBehavior.Name
    return {names(b) for b in options.Extensions[field_behavior_pb2.field_behavior]}


class SchemaSet:
    """The component schemas a document references, filled as `ref` is called."""

    def __init__(self, comments: Comments) -> None:
        self.comments = comments
        self.schemas: dict[str, dict] = {}

    def ref(self, descriptor: Descriptor | EnumDescriptor) -> dict:
        """A $ref to the type's component schema (added with the types it uses), or the
        inline schema of a well-known type."""
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # reserved first: messages may refer to themselves
            if isinstance(descriptor, EnumDescriptor):
                self.schemas[name] = self._enum(descriptor)
            else:
                self.schemas[name] = self.message(descriptor)
        return {"$ref": REF_PREFIX + name}

    def message(self, descriptor: Descriptor, exclude: frozenset[str] = frozenset()) -> dict:
        """The object schema of a message, leaving out the fields named in `exclude`."""
        fields = [f for f in descriptor.fields if f.name not in exclude]
        schema: dict = {"type": "object", "properties": {f.json_name: self.field(f) for f in fields}}
        required = [f.json_name for f in fields if "REQUIRED" in behaviors(f)]
        if required:
            schema["required"] = required
        text = self.comments[descriptor.full_name]
        oneofs = [o for o in descriptor.oneofs if not _synthetic(o) and any(f.name not in exclude for f in o.fields)]
        for oneof in oneofs:
            names = ", ".join(f.json_name for f in oneof.fields)
            text = (text + "\n\n" if text else "") + f"At most one of: {names} (oneof {oneof.name})."
        if text:
            schema["description"] = text
        return schema

    def field(self, f: FieldDescriptor) -> dict:
        """A field's schema, with its comment and behaviour."""
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            value = f.message_type.fields_by_name["value"]
            schema = {"type": "object", "additionalProperties": self._single(value)}
        elif f.is_repeated:
            schema = {"type": "array", "items": self._single(f)}
        else:
            schema = self._single(f)
        return _annotated(schema, self.comments[f.full_name], behaviors(f))

    def _single(self, f: FieldDescriptor) -> dict:
        if f.message_type is not None:
            return self.ref(f.message_type)
        if f.enum_type is not None:
            return self.ref(f.enum_type)
        return dict(_SCALARS[f.type])

    def _enum(self, descriptor: EnumDescriptor) -> dict:
        values = [v.name for v in descriptor.values]
        lines = [self.comments[descriptor.full_name]]
        lines += [f"- {v.name}: {self.comments[descriptor.full_name + '.' + v.name]}" for v in descriptor.values]
        schema: dict = {"type": "string", "enum": values}
        text = "\n".join(line for line in lines if line and not line.endswith(": "))
        if text:
            schema["description"] = text
        return schema


def _synthetic(oneof) -> bool:
    """proto3 `optional` fields sit in a oneof of their own that is not a real choice."""
    return len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name


def _annotated(schema: dict, text: str, behavior: set[str]) -> dict:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12: a $ref may have siblings.
    if text:
        schema["description"] = text
    if "OUTPUT_ONLY" in behavior:
        schema["readOnly"] = True
    return schema

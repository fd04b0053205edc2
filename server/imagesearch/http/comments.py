"""The proto files' comments, for the OpenAPI document's descriptions.

Generated `_pb2` modules drop comments (protoc's python output carries no source info),
so the .proto files are compiled again here with --include_source_info. That needs the
protos/ folder of a source checkout (the supported install); without it, or when the
compiled files differ from the descriptors this process serves (stale generated code),
the document simply has no descriptions.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor

log = logging.getLogger(__name__)

# Field numbers in descriptor.proto, the steps of a SourceCodeInfo.Location path.
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE, _FILE_SYNTAX = 4, 5, 6, 12
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2


class Comments:
    """Leading comments by full name: "pkg.Message", "pkg.Message.field", "pkg.Enum.VALUE",
    "pkg.Service", "pkg.Service.Method", and "file:<proto path>" for a file's header."""

    def __init__(self, by_name: dict[str, str] | None = None) -> None:
        self.by_name = by_name or {}

    def __getitem__(self, full_name: str) -> str:
        return self.by_name.get(full_name, "")

    @classmethod
    def from_files(cls, files: list[descriptor_pb2.FileDescriptorProto]) -> Comments:
        by_name: dict[str, str] = {}
        for file in files:
            paths = {tuple(loc.path): _clean(loc.leading_comments) for loc in file.source_code_info.location}
            # The comment above `syntax` describes the whole file ("file:<path>").
            by_name["file:" + file.name] = paths.get((_FILE_SYNTAX,), "")
            for path, name in _named_paths(file):
                if paths.get(path):
                    by_name[name] = paths[path]
        return cls(by_name)

    @classmethod
    def load(cls, served: list[FileDescriptor]) -> Comments:
        """Comments of the `served` files, compiled from protos/ (empty when unavailable)."""
        try:
            compiled = _compile_with_source_info()
        except (OSError, RuntimeError, ImportError) as exc:
            log.info("OpenAPI descriptions unavailable (%s)", exc)
            return cls()
        by_name = {f.name: f for f in compiled}
        matching = []
        for fd in served:
            runtime = descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb)
            source = by_name.get(fd.name)
            if source is None or _without_source_info(source) != runtime:
                log.warning("protos/%s differs from the generated code; OpenAPI descriptions left out", fd.name)
                return cls()
            matching.append(source)
        return cls.from_files(matching)


def _compile_with_source_info() -> list[descriptor_pb2.FileDescriptorProto]:
    from grpc_tools import protoc

    from imagesearch.protogen import PROTO_ROOT, include_dirs, proto_files

    if not PROTO_ROOT.is_dir():
        raise OSError(f"no {PROTO_ROOT}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.binpb"
        args = ["grpc_tools.protoc", *[f"-I{d}" for d in include_dirs()], "--include_source_info",
                f"--descriptor_set_out={out}", *[str(p) for p in proto_files()]]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on protos/")
        return list(descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file)


def _without_source_info(file: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """`file` as generated code embeds it: no source info, no json_name (derived anyway)."""
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(file)
    copy.ClearField("source_code_info")
    messages = list(copy.message_type)
    while messages:
        message = messages.pop()
        messages.extend(message.nested_type)
        for f in message.field:
            f.ClearField("json_name")
    return copy


def _named_paths(file: descriptor_pb2.FileDescriptorProto):
    """(location path, full name) of every message, field, enum, value, service, method."""
    prefix = file.package + "." if file.package else ""
    for i, message in enumerate(file.message_type):
        yield from _message_paths(message, (_FILE_MESSAGE, i), prefix)
    for i, enum in enumerate(file.enum_type):
        yield from _enum_paths(enum, (_FILE_ENUM, i), prefix)
    for i, service in enumerate(file.service):
        name = prefix + service.name
        yield (_FILE_SERVICE, i), name
        for j, method in enumerate(service.method):
            yield (_FILE_SERVICE, i, _SERVICE_METHOD, j), f"{name}.{method.name}"


def _message_paths(message: descriptor_pb2.DescriptorProto, path: tuple, prefix: str):
    name = prefix + message.name
    yield path, name
    for i, f in enumerate(message.field):
        yield (*path, _MESSAGE_FIELD, i), f"{name}.{f.name}"
    for i, nested in enumerate(message.nested_type):
        yield from _message_paths(nested, (*path, _MESSAGE_NESTED, i), name + ".")
    for i, enum in enumerate(message.enum_type):
        yield from _enum_paths(enum, (*path, _MESSAGE_ENUM, i), name + ".")


def _enum_paths(enum: descriptor_pb2.EnumDescriptorProto, path: tuple, prefix: str):
    name = prefix + enum.name
    yield path, name
    for i, value in enumerate(enum.value):
        yield (*path, _ENUM_VALUE, i), f"{name}.{value.name}"


def _clean(comment: str) -> str:
    """A comment block as text: lines unindented by one space, paragraphs kept."""
    lines = [line.removeprefix(" ") for line in comment.strip("\n").split("\n")]
    return "\n".join(lines).strip()

"""Protobuf response bodies (the ``protobuf`` extra: protobuf, and protoc from grpcio-tools).

``outputSchema`` names the ``.proto`` file, compiled at load time by protoc (in-process); as in the
reference engine (Jackson's ``ProtobufSchemaLoader``), the body is the first message type the
file declares. Fields present on the wire become object members by their ``.proto`` names; enums
as their names, 64-bit integers as numbers, bytes as base64, maps as objects.
"""

from __future__ import annotations

import importlib.resources
import tempfile
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from grpc_tools import protoc

from . import Decode, DecodeError, FormatSetupError, guarded, node_budget, plain, schema_file


def _compile_proto(path: Path, schema: str) -> descriptor_pb2.FileDescriptorSet:
    """protoc's descriptor set for ``path`` and everything it imports (well-known types included)."""
    includes = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "set.pb"
        status = protoc.main(
            [
                "protoc",
                f"-I{path.parent}",
                f"-I{includes}",
                "--include_imports",
                f"--descriptor_set_out={out}",
                str(path),
            ]
        )
        if status != 0 or not out.is_file():
            raise FormatSetupError(
                f"outputSchema '{schema}' does not compile as a .proto file (protoc's errors are logged)"
            )
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _message_value(message: Message) -> dict[str, Any]:
    return {field.name: _field_value(field, value) for field, value in message.ListFields()}


def _field_value(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        value_field = field.message_type.fields_by_name["value"]
        return {str(k): _single(value_field, v) for k, v in value.items()}
    if field.is_repeated:
        return [_single(field, item) for item in value]
    return _single(field, value)


def _single(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE or field.type == FieldDescriptor.TYPE_GROUP:
        return _message_value(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        symbol = field.enum_type.values_by_number.get(value) if field.enum_type else None
        return symbol.name if symbol is not None else value
    if field.type == FieldDescriptor.TYPE_BYTES:
        return plain(value, node_budget(value))
    return value


def protobuf_decoder(schema: str | None, directory: Path) -> Decode:
    path = schema_file(schema, directory, "protobuf")
    files = _compile_proto(path, str(schema))
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    target = next((f for f in files.file if f.name == path.name), files.file[-1])
    if not target.message_type:
        raise FormatSetupError(f"outputSchema '{schema}' declares no message type")
    name = f"{target.package}.{target.message_type[0].name}" if target.package else target.message_type[0].name
    root: Descriptor = pool.FindMessageTypeByName(name)
    message_class = message_factory.GetMessageClass(root)

    def decode(body: bytes) -> Any:
        message = message_class()
        try:
            message.ParseFromString(body)
        except (ProtobufDecodeError, ValueError) as exc:
            raise DecodeError(f"not a {root.full_name} message: {exc}") from exc
        return _message_value(message)

    return guarded(decode)

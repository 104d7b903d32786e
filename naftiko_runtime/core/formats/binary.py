"""Avro and Protobuf response bodies: one message in its binary encoding, read with the
operation's schema.

Protobuf: ``outputSchema`` names the ``.proto`` file, compiled at load time by protoc (from
grpcio-tools, in-process); as in the reference engine (Jackson's ``ProtobufSchemaLoader``), the
body is the first message type the file declares. Fields present on the wire become object
members by their ``.proto`` names; enums as their names, 64-bit integers as numbers, bytes as
base64, maps as objects.

Avro:

``outputSchema`` names the ``.avsc`` file (relative to the capability file), read and parsed at
load time, as the reference engine's converter reads it per request. The datum becomes plain data
(records as objects, enums as their symbol, bytes and fixed as base64, logical types as text).
A schema with an array or map of items that take no bytes (``null``, an empty record) is refused
at load: a few bytes of body could then claim billions of items, and the C reader would count
them all.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import struct
import tempfile
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader
from fastavro.schema import SchemaParseException, load_schema
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message
from grpc_tools import protoc

from . import Decode, DecodeError, FormatSetupError, guarded, node_budget, plain


def _schema_file(schema: str | None, directory: Path, what: str) -> Path:
    if not schema:
        raise FormatSetupError(f"outputRawFormat {what} needs outputSchema: the path of its schema file")
    path = directory / schema
    if not path.is_file():
        raise FormatSetupError(f"outputSchema '{schema}': no such file ({path})")
    return path


def _zero_width(schema: Any, named: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether a value of this (parsed) schema can take no bytes at all."""
    if isinstance(schema, str):
        if schema == "null":
            return True
        if schema in named and schema not in seen:
            return _zero_width(named[schema], named, seen | {schema})
        return False
    if isinstance(schema, list):  # a union: its branch index always takes a byte
        return False
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return all(_zero_width(f["type"], named, seen) for f in schema.get("fields", ()))
        if kind == "fixed":
            return int(schema.get("size", 1)) == 0
        if kind in ("array", "map", "enum"):
            return False
        return _zero_width(kind, named, seen)
    return False


def _unbounded_collections(schema: Any, named: dict[str, Any]) -> list[str]:
    """Arrays and maps whose items may take no bytes, by name for the error message."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind == "record":
                named[node["name"]] = node
                for field in node.get("fields", ()):
                    walk(field["type"])
            elif kind in ("array", "map"):
                items = node["items"] if kind == "array" else node["values"]
                if _zero_width(items, named):
                    found.append(f"{kind} of {json.dumps(items)}")
                walk(items)
            elif isinstance(kind, dict | list):
                walk(kind)

    walk(schema)
    return found


def avro_decoder(schema: str | None, directory: Path) -> Decode:
    path = _schema_file(schema, directory, "avro")
    try:
        parsed = load_schema(str(path))
    except (SchemaParseException, ValueError, KeyError, TypeError, OSError) as exc:
        raise FormatSetupError(f"outputSchema '{schema}' is not an Avro schema: {exc}") from exc
    unbounded = _unbounded_collections(parsed, {})
    if unbounded:
        raise FormatSetupError(
            f"outputSchema '{schema}': {', '.join(unbounded)} has items that take no bytes, so a small "
            "body could claim any number of them; this runtime refuses such schemas"
        )

    def decode(body: bytes) -> Any:
        stream = io.BytesIO(body)
        try:
            datum = schemaless_reader(stream, parsed, None)
        except (EOFError, ValueError, IndexError, KeyError, TypeError, OverflowError, struct.error) as exc:
            raise DecodeError(f"not an Avro datum of {schema}: {exc or type(exc).__name__}") from exc
        if stream.tell() != len(body):
            raise DecodeError(f"{len(body) - stream.tell()} bytes left over after the Avro datum of {schema}")
        return plain(datum, node_budget(body))

    return guarded(decode)


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
    path = _schema_file(schema, directory, "protobuf")
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

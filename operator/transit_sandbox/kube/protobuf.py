"""Request bodies in Kubernetes' protobuf encoding, decoded for the few core kinds kubectl sends that way.

kubectl's typed clients (`kubectl create secret generic ...`, `kubectl create configmap ...`) send
`Content-Type: application/vnd.kubernetes.protobuf` and do not fall back to JSON, so an emulator that only
reads JSON fails where a real API server succeeds. The envelope (apimachinery `runtime/serializer/protobuf`):
the magic bytes `k8s\\0`, then a `runtime.Unknown` message {1: typeMeta {1: apiVersion, 2: kind}, 2: raw
(the object's message), 3: contentEncoding, 4: contentType}. Field numbers below are those of
`k8s.io/api/core/v1/generated.proto` and `k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto` (v0.35).
Answers stay JSON (clients accept it: they send `Accept: ...protobuf,application/json`).
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Schema = dict[int, tuple[str, Any]]  # field number -> (JSON name, kind: "string" | "bytes" | ... | Schema)

_OBJECT_META: Schema = {
    1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"), 5: ("uid", "string"),
    6: ("resourceVersion", "string"), 7: ("generation", "int"), 11: ("labels", "map<string,string>"),
    12: ("annotations", "map<string,string>"), 14: ("finalizers", "repeated string"),
}
_TYPE_META: Schema = {1: ("apiVersion", "string"), 2: ("kind", "string")}  # runtime.TypeMeta
_UNKNOWN: Schema = {1: ("typeMeta", _TYPE_META), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"),
                    4: ("contentType", "string")}
KINDS: dict[str, Schema] = {
    "Secret": {1: ("metadata", _OBJECT_META), 2: ("data", "map<string,bytes>"), 3: ("type", "string"),
               4: ("stringData", "map<string,string>"), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", _OBJECT_META), 2: ("data", "map<string,string>"),
                  3: ("binaryData", "map<string,bytes>"), 4: ("immutable", "bool")},
    "Namespace": {1: ("metadata", _OBJECT_META), 2: ("spec", {1: ("finalizers", "repeated string")}),
                  3: ("status", {1: ("phase", "string")})},
}


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) in order: varints as int, length-delimited as bytes; fixed-width skipped."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            fields.append((number, data[pos:pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _message(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        # gogo-protobuf writes every scalar, zero values too; Go reads a zero value as "not set", so an
        # empty string, 0 or false is left out here (the API server then defaults it, e.g. Secret type).
        if isinstance(kind, dict):
            out[name] = _message(_bytes(value), kind)
        elif kind == "string":
            if text := _bytes(value).decode():
                out[name] = text
        elif kind == "bytes":
            out[name] = _bytes(value)
        elif kind in ("bool", "int"):
            if value:
                out[name] = bool(value) if kind == "bool" else int(value)  # type: ignore[arg-type]
        elif kind == "repeated string":
            out.setdefault(name, []).append(_bytes(value).decode())
        elif kind.startswith("map<"):
            entry = dict(_fields(_bytes(value)))
            key = _bytes(entry.get(1, b"")).decode()
            raw = _bytes(entry.get(2, b""))
            # JSON carries `bytes` as base64, exactly as the API server's JSON encoding does.
            out.setdefault(name, {})[key] = base64.b64encode(raw).decode() if kind.endswith("bytes>") else raw.decode()
    return out


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body holds, as the JSON the API server would have received."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    envelope = _message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported by the emulator (send JSON)")
    obj = _message(envelope.get("raw", b""), KINDS[kind])
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}

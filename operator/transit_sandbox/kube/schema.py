"""Structural OpenAPI v3 schemas the way the Kubernetes API server applies them to custom resources.

The API server, for every write of a custom resource, decodes the body, **prunes** fields the CRD's
`openAPIV3Schema` does not declare (unless `x-kubernetes-preserve-unknown-fields`), applies **defaults**,
then **validates**; errors are field errors whose text we mimic, e.g.
`spec.zones: Too many: 4: must have at most 3 items`.
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation

Supported: type (incl. `x-kubernetes-int-or-string`, `nullable`), properties, required, additionalProperties,
items, enum, pattern, minimum/maximum (+exclusive), multipleOf, min/maxItems, min/maxLength,
min/maxProperties, uniqueItems, `x-kubernetes-list-type: set|map`, allOf/anyOf/oneOf/not (validation only,
as in structural schemas), and the cheap formats. Not supported: CEL `x-kubernetes-validations`.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import ipaddress
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

# Fields every object has at its root, whatever the schema says.
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class FieldError:
    """One field error, rendered like k8s.io/apimachinery's `field.Error`."""

    field: str
    reason: str  # FieldValueInvalid | FieldValueRequired | FieldValueNotSupported | ...
    detail: str  # the text after "<field>: "

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


def _show(value: Any) -> str:
    """How Go's field errors print a bad value: strings quoted, numbers bare."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return '"null"'
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))[:200]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------------------------------------- pruning

def prune(obj: Any, schema: dict[str, Any], path: str = "", *, root: bool = True) -> tuple[Any, list[str]]:
    """Drop fields the schema does not know. Returns the pruned value and the paths that were dropped."""
    dropped: list[str] = []
    return _prune(obj, schema, path, dropped, root), dropped


def _prune(obj: Any, schema: dict[str, Any], path: str, dropped: list[str], root: bool) -> Any:
    if isinstance(obj, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if root and key in _ROOT_FIELDS:
                # metadata is ObjectMeta, validated separately; apiVersion/kind are the type.
                out[key] = value
            elif key in props:
                if value is None and not props[key].get("nullable"):
                    continue  # the API server prunes a null of a non-nullable field before defaulting
                out[key] = _prune(value, props[key], _join(path, key), dropped, False)
            elif isinstance(extra, dict):
                out[key] = _prune(value, extra, _join(path, key), dropped, False)
            elif extra is True or preserve:
                out[key] = value
            else:
                dropped.append(_join(path, key))
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], f"{path}[{i}]", dropped, False) for i, item in enumerate(obj)]
    return obj


# -------------------------------------------------------------------------------------------- defaulting

def apply_defaults(obj: Any, schema: dict[str, Any]) -> Any:
    """Set `default`s of absent properties (recursively, also inside the defaults themselves)."""
    if isinstance(obj, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for key, sub in props.items():
            if (key not in obj or (obj[key] is None and not sub.get("nullable"))) and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                obj[key] = apply_defaults(obj[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in list(obj):
                if key not in props:
                    obj[key] = apply_defaults(obj[key], extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in obj]
    return obj


# ------------------------------------------------------------------------------------------- validation

def validate(obj: Any, schema: dict[str, Any], path: str = "", *, root: bool = True) -> list[FieldError]:
    """Every field error of `obj` against the structural `schema`, paths like `spec.zones[0].name`."""
    errors: list[FieldError] = []
    _validate(obj, schema, path, errors, root)
    return errors


def _invalid(path: str, value: Any, text: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", f"Invalid value: {_show(value)}: {text}")


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    expected = schema.get("type")
    if expected is None:
        return True
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":  # an int64 (no wider JSON number decodes), or an integral float up to 2^53
        return (isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63) or (
            isinstance(value, float) and value.is_integer() and abs(value) <= 2**53)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _validate(obj: Any, schema: dict[str, Any], path: str, errors: list[FieldError], root: bool) -> None:
    label = path or "<root>"
    if obj is None:
        if not schema.get("nullable") and schema.get("type"):
            errors.append(_invalid(label, "null", f"{label} in body must be of type {schema['type']}: \"null\""))
        return
    if not _type_ok(obj, schema):
        expected = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        errors.append(FieldError(label, "FieldValueInvalid",
                                 f"Invalid value: \"{_type_name(obj)}\": {label} in body must be of type "
                                 f"{expected}: \"{_type_name(obj)}\""))
        return
    if "enum" in schema and obj not in schema["enum"]:
        supported = ", ".join(_show(v) for v in schema["enum"])
        errors.append(FieldError(label, "FieldValueNotSupported",
                                 f"Unsupported value: {_show(obj)}: supported values: {supported}"))
    if isinstance(obj, str):
        _validate_string(obj, schema, label, errors)
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        _validate_number(obj, schema, label, errors)
    elif isinstance(obj, list):
        _validate_array(obj, schema, path, label, errors)
    elif isinstance(obj, dict):
        _validate_object(obj, schema, path, label, errors, root)
    _validate_combinators(obj, schema, path, label, errors)


@functools.cache
def _go_regex(pattern: str) -> re.Pattern[str]:
    """The API server matches patterns with Go's RE2, where `$` is the end of the text; Python's `$` also
    matches before a final newline ("name\\n" would pass). Unescaped `$` outside classes becomes `\\Z`."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out))


def _validate_string(obj: str, schema: dict[str, Any], label: str, errors: list[FieldError]) -> None:
    if "maxLength" in schema and len(obj) > schema["maxLength"]:
        errors.append(FieldError(label, "FieldValueTooLong",
                                 f"Too long: may not be more than {schema['maxLength']} bytes"))
    if "minLength" in schema and len(obj) < schema["minLength"]:
        errors.append(_invalid(label, obj, f"{label} in body should be at least {schema['minLength']} chars long"))
    if "pattern" in schema and not _go_regex(schema["pattern"]).search(obj):
        errors.append(_invalid(label, obj, f"{label} in body should match '{schema['pattern']}'"))
    fmt = schema.get("format")
    if fmt and not _format_ok(fmt, obj):
        errors.append(_invalid(label, obj, f"{label} in body must be of type {fmt}: {_show(obj)}"))


def _go_int64(bound: float) -> int:
    """A schema bound as kube-openapi compares it with an integer: the CRD holds bounds as float64 and the
    validator converts them with Go's int64(), which on amd64 turns anything out of range (2^63-1 rounds to
    2^63 as a float64) into -2^63 — so `maximum: 9223372036854775807` refuses every integer."""
    value = float(bound)
    return int(value) if -(2**63) <= value < 2**63 else -(2**63)


def _validate_number(obj: float, schema: dict[str, Any], label: str, errors: list[FieldError]) -> None:
    if schema.get("type") == "integer" and isinstance(obj, int):
        schema = {**schema, **{key: _go_int64(schema[key]) for key in ("minimum", "maximum") if key in schema}}
    if "minimum" in schema:
        low = schema["minimum"]
        if schema.get("exclusiveMinimum") and obj <= low:
            errors.append(_invalid(label, obj, f"{label} in body should be greater than {low}"))
        elif obj < low:
            errors.append(_invalid(label, obj, f"{label} in body should be greater than or equal to {low}"))
    if "maximum" in schema:
        high = schema["maximum"]
        if schema.get("exclusiveMaximum") and obj >= high:
            errors.append(_invalid(label, obj, f"{label} in body should be less than {high}"))
        elif obj > high:
            errors.append(_invalid(label, obj, f"{label} in body should be less than or equal to {high}"))
    if schema.get("multipleOf") and (obj / schema["multipleOf"]) % 1:
        errors.append(_invalid(label, obj, f"{label} in body should be a multiple of {schema['multipleOf']}"))


def _validate_array(obj: list[Any], schema: dict[str, Any], path: str, label: str,
                    errors: list[FieldError]) -> None:
    if "maxItems" in schema and len(obj) > schema["maxItems"]:
        errors.append(FieldError(label, "FieldValueTooMany",
                                 f"Too many: {len(obj)}: must have at most {schema['maxItems']} items"))
    if "minItems" in schema and len(obj) < schema["minItems"]:
        errors.append(_invalid(label, len(obj), f"{label} in body should have at least {schema['minItems']} items"))
    list_type = schema.get("x-kubernetes-list-type")
    if schema.get("uniqueItems") or list_type in ("set", "map"):
        keys = (schema.get("x-kubernetes-list-map-keys") or []) if list_type == "map" else []
        seen: list[Any] = []
        for i, item in enumerate(obj):
            key = {k: item.get(k) for k in keys} if keys and isinstance(item, dict) else item
            if key in seen:
                errors.append(FieldError(f"{path}[{i}]", "FieldValueDuplicate", f"Duplicate value: {_show(key)}"))
            seen.append(key)
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(obj):
            _validate(item, items, f"{path}[{i}]", errors, False)


def _validate_object(obj: dict[str, Any], schema: dict[str, Any], path: str, label: str,
                     errors: list[FieldError], root: bool) -> None:
    for key in schema.get("required") or []:
        if key not in obj and not (root and key in _ROOT_FIELDS):
            errors.append(FieldError(_join(path, key), "FieldValueRequired", "Required value"))
    if "maxProperties" in schema and len(obj) > schema["maxProperties"]:
        errors.append(FieldError(label, "FieldValueTooMany",
                                 f"Too many: {len(obj)}: must have at most {schema['maxProperties']} items"))
    if "minProperties" in schema and len(obj) < schema["minProperties"]:
        errors.append(_invalid(label, len(obj),
                               f"{label} in body should have at least {schema['minProperties']} properties"))
    props: dict[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, value in obj.items():
        if root and key in _ROOT_FIELDS and key not in props:
            continue
        if key in props:
            _validate(value, props[key], _join(path, key), errors, False)
        elif isinstance(extra, dict):
            _validate(value, extra, _join(path, key), errors, False)


def _validate_combinators(obj: Any, schema: dict[str, Any], path: str, label: str,
                          errors: list[FieldError]) -> None:
    for sub in schema.get("allOf") or []:
        _validate(obj, sub, path, errors, False)
    any_of = schema.get("anyOf")
    if any_of and not any(not validate(obj, sub, path, root=False) for sub in any_of):
        errors.append(_invalid(label, obj, f"{label} in body must match at least one schema in anyOf"))
    one_of = schema.get("oneOf")
    if one_of and sum(1 for sub in one_of if not validate(obj, sub, path, root=False)) != 1:
        errors.append(_invalid(label, obj, f"{label} in body must validate one and only one schema (oneOf)"))
    if "not" in schema and not validate(obj, schema["not"], path, root=False):
        errors.append(_invalid(label, obj, f"{label} in body should not validate the schema (not)"))


_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _format_ok(fmt: str, value: str) -> bool:
    """The formats cheap to check; unknown formats pass, as in the API server."""
    try:
        if fmt == "uuid":
            uuid.UUID(value)
        elif fmt == "ipv4":
            ipaddress.IPv4Address(value)
        elif fmt == "ipv6":
            ipaddress.IPv6Address(value)
        elif fmt == "cidr":
            ipaddress.ip_network(value, strict=False)
        elif fmt == "date-time":
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif fmt == "date":
            datetime.date.fromisoformat(value)
        elif fmt == "byte":
            base64.b64decode(value, validate=True)
        elif fmt == "hostname":
            return len(value) <= 253 and bool(_HOSTNAME.match(value))
    except ValueError:
        return False
    return True

"""What the Kubernetes API server does to a custom resource before it stores it, for `plan` to do the same.

`plan` must refuse exactly what the cluster refuses. The models alone do not: pydantic's lax mode turns
`"2"` into 2 and `"true"` into True where the CRD schema says `integer`/`boolean` and the API server
refuses the write, and the API server drops (prunes) unknown fields and `null`s silently where a model
would fail or ignore them. So `plan` first puts each document through `admit`, which follows the API
server's order with the CRD's own `openAPIV3Schema` (generated from the same models, `api.crd`):

1. decoding: JSON types as the schema declares them. An `integer` is an int64 (a value outside
   [-2^63, 2^63-1] does not decode); an integral float (`2.0`) passes as the integer it is, as
   kube-openapi's validator accepts it; nothing is coerced from a string or a boolean;
2. pruning: fields the schema does not declare are dropped and reported (`unknown`), and so are `null`
   values of fields that are not `nullable`
   (kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions, "Defaulting
   and Nullable");
3. the models then validate the admitted document (patterns, lengths, ranges and the checks a structural
   schema cannot express); `api.meta` checks ObjectMeta.

Why a pre-pass over the generated schema rather than `strict=True` models: strict pydantic refuses the
integral floats and the `null`s the API server accepts, so it would disagree the other way. The sandbox's
Kubernetes emulator has its own, fuller implementation (`transit_sandbox.kube.schema`); the operator
never imports the sandbox, and this module only needs the part that decides types and pruning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

__all__ = ["Admitted", "admit", "schema_of"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_INTEGRAL_FLOAT = float(2**53)  # kube-openapi: a float is an integer only up to 2^53
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


@dataclass
class Admitted:
    """The document as the API server would store it, what it pruned, and what it refuses."""

    document: Any
    unknown: list[str] = field(default_factory=list)  # paths of pruned unknown fields
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


@cache
def schema_of(kind: str) -> str:
    """The generated openAPIV3Schema of a kind, as JSON (cached; `json.loads` gives a fresh copy)."""
    from transit_operator.api.crd import openapi_schema
    from transit_operator.api.v1alpha1 import KINDS

    return json.dumps(openapi_schema(KINDS[kind]))


def admit(document: Any, kind: str) -> Admitted:
    """Decode and prune `document` against the CRD schema of `kind` (see the module docstring)."""
    result = Admitted(None)
    result.document = _admit(document, json.loads(schema_of(kind)), "", result, root=True)
    return result


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


_TYPE_CHECKS: dict[str, Any] = {
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _decoded(value: Any, expected: str | None, path: str, result: Admitted) -> tuple[bool, Any]:
    """(ok, value as decoded) for a schema `type`."""
    label = path or "<root>"
    if expected is None:
        return True, value
    if expected == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            if INT64_MIN <= value <= INT64_MAX:
                return True, value
            result.errors.append((label, f"Invalid value: {value}: does not fit an int64"))
            return False, value
        if isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_INTEGRAL_FLOAT:
            return True, int(value)
    elif _TYPE_CHECKS.get(expected, lambda v: True)(value):
        return True, value
    name = _type_name(value)
    result.errors.append((label, f'Invalid value: "{name}": {label} in body must be of type {expected}: "{name}"'))
    return False, value


def _admit(value: Any, schema: dict[str, Any], path: str, result: Admitted, *, root: bool = False) -> Any:
    if value is None:
        if not schema.get("nullable"):
            label = path or "<root>"
            result.errors.append((label, f'Invalid value: "null": {label} in body must be of type '
                                         f'{schema.get("type", "object")}: "null"'))
        return None
    ok, value = _decoded(value, schema.get("type"), path, result)
    if not ok:
        return value
    if isinstance(value, dict):
        properties: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if root and key in _ROOT_FIELDS:
                out[key] = item  # ObjectMeta and the type: checked by `api.meta` and the models
            elif key in properties:
                if item is None and not properties[key].get("nullable"):
                    continue  # the API server prunes a null of a non-nullable field
                out[key] = _admit(item, properties[key], child, result)
            elif isinstance(extra, dict):
                out[key] = _admit(item, extra, child, result)
            elif preserve or extra is True:
                out[key] = item
            else:
                result.unknown.append(child)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_admit(item, schema["items"], f"{path}[{i}]", result) for i, item in enumerate(value)]
    return value

"""The small languages of the Kubernetes API: patches, selectors and printer-column JSONPath.

- JSON patch (RFC 6902; kopf's finalizer writes start with a `test` op on `/metadata/resourceVersion`),
  strategic merge patch treated as a merge patch (what the API server does for custom resources, which
  have no patch strategies) after dropping its `$directives`. The JSON merge patch itself (RFC 7386) is
  `transit_sandbox.merge_patch`, shared with the ARM emulator.
- label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and field selectors
  (`metadata.name=x`, any dotted path, `=`/`==`/`!=`).
- the JSONPath subset printer columns use: `.a.b`, `[0]`, `[*]`, `[?(@.type=="Ready")]`.
"""

from __future__ import annotations

import copy
import re
from typing import Any


class PatchError(Exception):
    """The patch cannot be applied (the API server answers 422, or 400 for a malformed patch)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------- strategic merge patch

def strip_strategic_directives(patch: Any) -> Any:
    """Drop `$setElementOrder/...`, `$retainKeys`, `$patch`, `$deleteFromPrimitiveList/...` keys."""
    if isinstance(patch, dict):
        return {k: strip_strategic_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_strategic_directives(v) for v in patch]
    return patch


# ------------------------------------------------------------------------------------------- JSON patch

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}", 400)
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], op: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: /{'/'.join(parts)}")
    return node, parts[-1]


def _get(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent, key = _parent(doc, parts, op)
    if isinstance(parent, dict) and key in parent:
        return parent[key]
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent[int(key)]
    raise PatchError(f"{op} operation does not apply: doc is missing path: {path}")


def _remove(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    parent, key = _parent(doc, parts, op)
    if isinstance(parent, dict) and key in parent:
        return parent.pop(key)
    if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
        return parent.pop(int(key))
    raise PatchError(f"{op} operation does not apply: doc is missing path: {path}")


def _add(doc: Any, path: str, value: Any, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, key = _parent(doc, parts, op)
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        if key == "-":
            parent.append(value)
        elif key.isdigit() and int(key) <= len(parent):
            parent.insert(int(key), value)
        else:
            raise PatchError(f"{op} operation does not apply: index out of range: {path}")
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing path: {path}")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 on a copy of `doc`. A failed `test` raises PatchError (the API server's 422)."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations", 400)
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}", 400)
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), kind)
        elif kind == "remove":
            _remove(doc, path, kind)
        elif kind == "replace":
            _get(doc, path, kind)
            if _pointer(path):
                _remove(doc, path, kind)
            doc = _add(doc, path, copy.deepcopy(op.get("value")), kind)
        elif kind == "move":
            value = _remove(doc, op["from"], kind)
            doc = _add(doc, path, value, kind)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"], kind)), kind)
        elif kind == "test":
            actual = _get(doc, path, kind)
            if actual != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"unexpected kind of JSON patch operation: {kind!r}", 400)
    return doc


# ------------------------------------------------------------------------------------------- selectors

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside `( ... )`."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def label_selector_matches(selector: str | None, labels: dict[str, str] | None) -> bool:
    if not selector:
        return True
    labels = labels or {}
    for term in _split_terms(selector):
        set_term = _SET_TERM.match(term)
        if set_term:
            key, operator, values = set_term.groups()
            choices = {v.strip() for v in values.split(",") if v.strip()}
            present = key in labels and labels[key] in choices
            if (operator == "in") != present:
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str | None, obj: dict[str, Any]) -> bool:
    if not selector:
        return True
    for term in _split_terms(selector):
        negate = "!=" in term
        key, value = (s.strip() for s in term.replace("!=", "=").replace("==", "=").split("=", 1))
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        actual = "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)
        if (actual == value) == negate:
            return False
    return True


# -------------------------------------------------------------------------------------------- JSONPath

_JSONPATH_TOKEN = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\*|\d+)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def jsonpath_values(obj: Any, expression: str) -> list[Any]:
    """Evaluate the printer-column subset of JSONPath; all matches, in order."""
    expression = expression.strip()
    if expression.startswith("{") and expression.endswith("}"):
        expression = expression[1:-1]
    expression = expression.lstrip("$")
    nodes = [obj]
    position = 0
    while position < len(expression):
        token = _JSONPATH_TOKEN.match(expression, position)
        if not token:
            return []
        position = token.end()
        field, index, filter_key, filter_value = token.groups()
        next_nodes: list[Any] = []
        for node in nodes:
            if field is not None and isinstance(node, dict) and field in node:
                next_nodes.append(node[field])
            elif index == "*" and isinstance(node, list):
                next_nodes.extend(node)
            elif index is not None and index != "*" and isinstance(node, list) and int(index) < len(node):
                next_nodes.append(node[int(index)])
            elif filter_key is not None and isinstance(node, list):
                for item in node:
                    value: Any = item
                    for part in filter_key.split("."):
                        value = value.get(part) if isinstance(value, dict) else None
                    if value is not None and str(value) == filter_value:
                        next_nodes.append(item)
        nodes = next_nodes
    return nodes

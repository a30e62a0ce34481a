"""Markdown API reference generated from the CRD schemas (themselves generated from the models).

`docs/api.md` is this output; a test fails when it drifts.
"""

from __future__ import annotations

import json
from typing import Any

from transit_operator.api.crd import build_crds


def _type_of(node: dict[str, Any]) -> str:
    kind = node.get("type", "object")
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    if kind == "array":
        return f"list of {_type_of(node.get('items', {}))}"
    return kind


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    for key, label in (("minimum", "≥"), ("maximum", "≤"), ("minItems", "min items"), ("maxItems", "max items"),
                       ("maxLength", "max length")):
        if key in node:
            parts.append(f"{label} {node[key]}")
    if "default" in node:
        parts.append(f"default `{json.dumps(node['default'])}`")
    return ", ".join(parts)


def _rows(node: dict[str, Any], path: str, required: set[str]) -> list[str]:
    rows = []
    for name, prop in node.get("properties", {}).items():
        field = f"{path}.{name}" if path else name
        description = prop.get("description", "").replace("|", "\\|")
        marker = " (required)" if name in required else ""
        rows.append(f"| `{field}`{marker} | {_type_of(prop)} | {description} | {_constraints(prop)} |")
        target = prop.get("items", {}) if prop.get("type") == "array" else prop
        if target.get("properties"):
            sub = f"{field}[]" if prop.get("type") == "array" else field
            rows.extend(_rows(target, sub, set(target.get("required", []))))
    return rows


def render_reference() -> str:
    out = ["# API reference: `transit.privatelink.io/v1alpha1`", "",
           "Generated from the models by `python -m transit_operator.api.reference`; do not edit by hand.", ""]
    for crd in build_crds():
        names = crd["spec"]["names"]
        version = crd["spec"]["versions"][0]
        schema = version["schema"]["openAPIV3Schema"]
        out += [f"## {names['kind']}", "", schema.get("description", ""), "",
                f"Plural `{names['plural']}`, short name `{names['shortNames'][0]}`, "
                f"category `{names['categories'][0]}`.", ""]
        for section in ("spec", "status"):
            node = schema["properties"][section]
            out += [f"### {section}", "", "| field | type | description | constraints |", "|---|---|---|---|"]
            out += _rows(node, section, set(node.get("required", [])))
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_reference(), end="")

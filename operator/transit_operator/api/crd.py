"""CustomResourceDefinitions generated from the pydantic models.

`transit-operator crds` prints them; the committed `crds/*.yaml` must equal that output (a test fails on
drift). The pydantic JSON schema is turned into a Kubernetes *structural* schema: `$ref`s inlined,
`anyOf [X, null]` folded into `nullable`, titles and `additionalProperties: false` dropped (the API server
prunes unknown fields instead), descriptions kept for `kubectl explain`.

Checks that a structural schema cannot express (reserved TLDs, 1-or-3 zones, the option block matching
`option`) run in the operator, which reports them as a `Stalled` condition naming the field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from transit_operator.api.kinds import GROUP, KIND_TABLE, VERSION
from transit_operator.api.meta import MAX_NAME_LENGTH
from transit_operator.api.v1alpha1 import KINDS

_DROP = {"title", "additionalProperties", "examples", "$defs"}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    any_of = node.get("anyOf")
    if any_of is not None:
        non_null = [option for option in any_of if option.get("type") != "null"]
        if len(non_null) == 1 and len(non_null) < len(any_of):
            merged = {**non_null[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            merged["nullable"] = True
            return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default" and value is None:
            continue
        if key == "description":
            out[key] = " ".join(value.split())
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _structural(value, defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "integer":
        # The API server holds schema bounds as float64, where 2^63-1 becomes 2^63, and compares integers
        # against int64(bound), which overflows: `maximum: 9223372036854775807` refused every value on a
        # real kube-apiserver. Decoding already limits integers to int64, so the int64 bounds are dropped.
        if out.get("maximum") == 2**63 - 1:
            del out["maximum"]
        if out.get("minimum") == -(2**63):
            del out["minimum"]
    return out


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural openAPIV3Schema for one kind."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema = _structural(raw, raw.get("$defs", {}))
    props = schema["properties"]
    # A structural schema may restrict only metadata.name and metadata.generateName: the real API server
    # refuses a CRD whose metadata schema says anything else, even a description (it is implicit).
    props["metadata"] = {
        "type": "object",
        # The only restriction a CRD may put on ObjectMeta; see api.meta.MAX_NAME_LENGTH for why.
        "properties": {
            "name": {
                "type": "string",
                "maxLength": MAX_NAME_LENGTH,
                "description": f"Object name (at most {MAX_NAME_LENGTH} characters: the Azure ownership tag carries it).",
            }
        },
    }
    # The status is written by the operator only; keep unknown status fields rather than pruning them.
    props["status"]["x-kubernetes-preserve-unknown-fields"] = True
    props["status"].pop("nullable", None)
    schema["required"] = ["spec"]
    return schema


_READY = '.status.conditions[?(@.type=="Ready")].status'
_REASON = '.status.conditions[?(@.type=="Ready")].reason'

def build_crds() -> list[dict[str, Any]]:
    crds = []
    for entry in KIND_TABLE:
        kind, plural = entry.kind, entry.plural
        columns = [
            {"name": "Ready", "type": "string", "jsonPath": _READY},
            *(dict(column) for column in entry.columns),
            {"name": "Reason", "type": "string", "jsonPath": _REASON},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ]
        crds.append(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": entry.crd_name,
                    "labels": {"app.kubernetes.io/part-of": "transit-operator"},
                },
                "spec": {
                    "group": GROUP,
                    "scope": "Namespaced",
                    "names": {
                        "kind": kind,
                        "listKind": f"{kind}List",
                        "plural": plural,
                        "singular": entry.singular,
                        "shortNames": [entry.short_name],
                        "categories": ["transit"],
                    },
                    "versions": [
                        {
                            "name": VERSION,
                            "served": True,
                            "storage": True,
                            "subresources": {"status": {}},
                            "additionalPrinterColumns": columns,
                            "schema": {"openAPIV3Schema": openapi_schema(KINDS[kind])},
                        }
                    ],
                },
            }
        )
    return crds


def crd_file_names() -> list[str]:
    return [f"{GROUP}_{entry.plural}.yaml" for entry in KIND_TABLE]


def render_crd_yaml(crd: dict[str, Any]) -> str:
    return yaml.safe_dump(crd, sort_keys=False, width=100)


def render_crds_yaml() -> str:
    return "---\n".join(render_crd_yaml(crd) for crd in build_crds())


def write_crds(directory: Path) -> list[Path]:
    """Write one file per kind into `directory` (`transit-operator crds --write DIR`, run by
    `scripts/dev generate` for crds/ and the chart) and delete this group's files no kind has any more."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, crd in zip(crd_file_names(), build_crds(), strict=True):
        path = directory / name
        path.write_text(render_crd_yaml(crd))
        written.append(path)
    for stale in set(directory.glob(f"{GROUP}_*.yaml")) - set(written):
        stale.unlink()
    return written

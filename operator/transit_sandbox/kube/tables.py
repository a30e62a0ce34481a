"""Server-side tables (`meta.k8s.io/v1 Table`): what `kubectl get` prints, from a CRD's printer columns."""

from __future__ import annotations

import datetime
import json
from typing import Any

from transit_sandbox.kube.patch import jsonpath_values
from transit_sandbox.kube.store import ResourceType


def _age(timestamp: str | None) -> str:
    """kubectl's short human duration."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def build_table(rt: ResourceType, objects: list[dict[str, Any]], include: str,
                resource_version: str) -> dict[str, Any]:
    """The `meta.k8s.io/v1 Table` `kubectl get` asks for: Name + printer columns (or Age)."""
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}]
    printer = rt.printer_columns or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    for column in printer:
        columns.append({"name": column["name"], "type": column.get("type", "string"),
                        "format": column.get("format", ""), "priority": column.get("priority", 0),
                        "description": column.get("description", "")})
    rows = []
    for obj in objects:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in printer:
            values = jsonpath_values(obj, column["jsonPath"])
            if not values:
                cells.append(None)
            elif column.get("type") == "date":
                cells.append(_age(str(values[0])))
            elif len(values) == 1:
                cells.append(values[0] if not isinstance(values[0], dict | list) else json.dumps(values[0]))
            else:
                cells.append(",".join(str(v) for v in values))
        row: dict[str, Any] = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}

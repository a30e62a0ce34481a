"""Server-side tables (`meta.k8s.io/v1 Table`): what `kubectl get` prints — the built-in kinds' own columns,
a custom resource's from its CRD's printer columns."""

from __future__ import annotations

import datetime
import json
from typing import Any

from transit_sandbox.kube.patch import jsonpath_values
from transit_sandbox.kube.store import ResourceType


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`: what kubectl shows as AGE."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 2 * 60:
        return f"{max(whole, 0)}s"
    minutes, hours = whole // 60, whole // 3600
    if minutes < 10:
        return f"{minutes}m" if whole % 60 == 0 else f"{minutes}m{whole % 60}s"
    if minutes < 3 * 60:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(timestamp: str | None) -> str:
    """`translateTimestampSince`: "<unknown>" for no timestamp, else the human duration since it."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def _column(name: str, priority: int = 0, format_: str = "", type_: str = "string") -> dict[str, Any]:
    return {"name": name, "type": type_, "format": format_, "priority": priority, "description": ""}


_NAME = _column("Name", format_="name")
_AGE = _column("Age")


def _event_cells(event: dict[str, Any]) -> list[Any]:
    """kubernetes pkg/printers/internalversion `printEvent` (wide: kubectl hides the priority-1 cells)."""
    first = _age(event.get("firstTimestamp") or event.get("eventTime"))
    last = _age(event["lastTimestamp"]) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    if event.get("series"):
        last, count = _age(event["series"].get("lastObservedTime")), event["series"].get("count", 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API have no count
    involved = event.get("involvedObject") or {}
    target = str(involved.get("kind", "")).lower()
    if involved.get("name"):
        target = f"{target}/{involved['name']}"
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingController") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [last, event.get("type", ""), event.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {instance}" if instance else component, str(event.get("message", "")).strip(), first,
            count, event["metadata"]["name"]]


# The built-in kinds' tables, as kube-apiserver prints them (pkg/printers/internalversion/printers.go, and
# apiextensions' for CRDs): columns, and one row's cells from an object.
BUILTIN_TABLES: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "namespaces": ([_NAME, _column("Status"), _AGE],
                   lambda o: [o["metadata"]["name"], (o.get("status") or {}).get("phase", ""),
                              _age(o["metadata"].get("creationTimestamp"))]),
    "secrets": ([_NAME, _column("Type"), _column("Data"), _AGE],
                lambda o: [o["metadata"]["name"], o.get("type", ""), len(o.get("data") or {}),
                           _age(o["metadata"].get("creationTimestamp"))]),
    "configmaps": ([_NAME, _column("Data"), _AGE],
                   lambda o: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                              _age(o["metadata"].get("creationTimestamp"))]),
    "events": ([_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"),
                _column("Subobject", 1), _column("Source", 1), _column("Message"), _column("First Seen", 1),
                _column("Count", 1), _column("Name", 1, "name")], _event_cells),
    "leases": ([_NAME, _column("Holder"), _AGE],
               lambda o: [o["metadata"]["name"], (o.get("spec") or {}).get("holderIdentity", ""),
                          _age(o["metadata"].get("creationTimestamp"))]),
    "customresourcedefinitions": ([_NAME, _column("Created At", format_="date", type_="date")],
                                  lambda o: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]),
}


def build_table(rt: ResourceType, objects: list[dict[str, Any]], include: str,
                resource_version: str) -> dict[str, Any]:
    """The `meta.k8s.io/v1 Table` `kubectl get` asks for: a built-in kind's own columns, else Name and the
    CRD's printer columns (or Age)."""
    if not rt.custom and rt.plural in BUILTIN_TABLES:
        columns, cells_of = BUILTIN_TABLES[rt.plural]
        return _table(columns, [(obj, cells_of(obj)) for obj in objects], include, resource_version)
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
        rows.append((obj, cells))
    return _table(columns, rows, include, resource_version)


def _table(columns: list[dict[str, Any]], rows: list[tuple[dict[str, Any], list[Any]]], include: str,
           resource_version: str) -> dict[str, Any]:
    table_rows = []
    for obj, cells in rows:
        row: dict[str, Any] = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        table_rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": table_rows}

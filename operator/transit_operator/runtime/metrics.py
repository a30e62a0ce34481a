"""Prometheus metrics of the operator (`--metrics-port`, path `/metrics`).

Each `Metrics` has its own `CollectorRegistry`, so tests and the sandbox can run several operators in
one process without "duplicated timeseries" errors.

The series the chart's alerts (charts/transit-operator/templates/prometheusrule.yaml) and Grafana dashboard
read, by what they answer:

| series | labels | answers |
|---|---|---|
| `transit_operator_reconcile_total` | kind, operation, result | passes: `synced`, `requeue`, `error` (reconcile); `done`, `requeue`, `error` (finalize) |
| `transit_operator_reconcile_duration_seconds` | kind, operation | how long one pass takes (histogram) |
| `transit_operator_reconcile_errors_total` | kind, operation | exceptions that escaped a reconciler (a bug or an unclassified cloud error) |
| `transit_operator_cloud_calls_total` | verb | logical Azure calls (before azure-core's retries) |
| `transit_operator_arm_responses_total` | method, code | every ARM HTTP response, retries included: `code="429"` is throttling |
| `transit_operator_condition` | kind, namespace, name, condition, status, reason | 1 per object and condition type, as the operator last wrote it (`Ready`, `Reconciling`, `Stalled`, ...) |
| `transit_operator_ncc_rule` | namespace, name, state | 1 for the NCC private endpoint rule state of each ServerlessTransit |
| `transit_operator_haproxy_instances` | namespace, name | VMSS instances of an haproxy transit |
| `transit_operator_haproxy_instances_config_applied` | namespace, name | of those, the ones running the desired `haproxy.cfg` |
| `transit_operator_data_path_broken_hop` | namespace, name, hop | 1 while `DataPathHealthy` is False: the first broken hop of the last diagnosis |

The per-object series are set from the status each pass writes and removed when the object's finalizer
is done, so they describe the objects this replica reconciles (a peering standby exports none).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

ObjectKey = tuple[str, str, str]  # kind, namespace, name


class Metrics:
    """The operator's series (see the module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.passes = Counter(
            "transit_operator_reconcile_total", "Reconcile and finalize passes.",
            ["kind", "operation", "result"], registry=self.registry)
        self.durations = Histogram(
            "transit_operator_reconcile_duration_seconds", "Duration of one reconcile or finalize pass.",
            ["kind", "operation"], registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.errors = Counter(
            "transit_operator_reconcile_errors_total", "Exceptions that escaped a reconciler.",
            ["kind", "operation"], registry=self.registry)
        self.cloud_calls = Counter(
            "transit_operator_cloud_calls_total", "Logical Azure/Databricks calls by HTTP verb.",
            ["verb"], registry=self.registry)
        self.arm_responses = Counter(
            "transit_operator_arm_responses_total",
            "Azure Resource Manager HTTP responses by method and status code, retries included (429: throttled).",
            ["method", "code"], registry=self.registry)
        self.conditions = Gauge(
            "transit_operator_condition",
            "1 per object and condition type, with the status and reason the operator last wrote.",
            ["kind", "namespace", "name", "condition", "status", "reason"], registry=self.registry)
        self.ncc_rules = Gauge(
            "transit_operator_ncc_rule", "1 for the connection state of each ServerlessTransit's NCC rule.",
            ["namespace", "name", "state"], registry=self.registry)
        self.haproxy_instances = Gauge(
            "transit_operator_haproxy_instances", "VMSS instances of an haproxy ServerlessTransit.",
            ["namespace", "name"], registry=self.registry)
        self.haproxy_applied = Gauge(
            "transit_operator_haproxy_instances_config_applied",
            "VMSS instances running the desired haproxy.cfg.", ["namespace", "name"], registry=self.registry)
        self.broken_hops = Gauge(
            "transit_operator_data_path_broken_hop",
            "1 while a ServerlessTransit's DataPathHealthy is False, labelled with the first broken hop.",
            ["namespace", "name", "hop"], registry=self.registry)
        self._object_series: dict[ObjectKey, list[tuple[Gauge, tuple[str, ...]]]] = {}
        self._lock = threading.Lock()

    def observe(self, kind: str, operation: str, result: str, seconds: float) -> None:
        """`result`: `synced`, `requeue` or `error` (reconcile); `done`, `requeue` or `error` (finalize)."""
        self.passes.labels(kind, operation, result).inc()
        self.durations.labels(kind, operation).observe(seconds)
        if result == "error":
            self.errors.labels(kind, operation).inc()

    def cloud_call(self, method: str, url: str) -> None:
        """`CloudContext.call_hook`: one logical cloud call."""
        self.cloud_calls.labels(method.upper()).inc()

    def arm_response(self, method: str, url: str, status: int) -> None:
        """`CloudContext.response_hook`: one ARM HTTP response (each retry is one)."""
        self.arm_responses.labels(method.upper(), str(status)).inc()

    def observe_status(self, kind: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """The per-object series from the `.status` a pass wrote (replacing the object's previous ones)."""
        series: list[tuple[Gauge, tuple[str, ...]]] = []
        for condition in status.get("conditions") or []:
            series.append((self.conditions, (kind, namespace, name, str(condition.get("type", "")),
                                             str(condition.get("status", "")), str(condition.get("reason", "")))))
        state = (status.get("ncc") or {}).get("connectionState")
        if state:
            series.append((self.ncc_rules, (namespace, name, str(state))))
        healthy = next((c for c in status.get("conditions") or [] if c.get("type") == "DataPathHealthy"), None)
        broken_hop = (status.get("diagnosis") or {}).get("firstBrokenHop")
        if healthy is not None and healthy.get("status") == "False" and broken_hop:
            series.append((self.broken_hops, (namespace, name, str(broken_hop))))
        haproxy = status.get("haproxy")
        if haproxy is not None:
            desired = haproxy.get("desiredConfigHash")
            instances = haproxy.get("instances") or []
            applied = sum(1 for i in instances if desired and i.get("appliedConfigHash") == desired)
            self.haproxy_instances.labels(namespace, name).set(len(instances))
            self.haproxy_applied.labels(namespace, name).set(applied)
            series += [(self.haproxy_instances, (namespace, name)), (self.haproxy_applied, (namespace, name))]
        with self._lock:
            previous = self._object_series.get((kind, namespace, name), [])
            for gauge, labels in previous:
                if (gauge, labels) not in series:
                    gauge.remove(*labels)
            for gauge, labels in series:
                if gauge is not self.haproxy_instances and gauge is not self.haproxy_applied:
                    gauge.labels(*labels).set(1)
            self._object_series[(kind, namespace, name)] = series

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """The object is gone (its finalizer is done): drop its series."""
        with self._lock:
            for gauge, labels in self._object_series.pop((kind, namespace, name), []):
                gauge.remove(*labels)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

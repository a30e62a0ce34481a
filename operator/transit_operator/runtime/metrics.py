"""Prometheus metrics of the operator (`--metrics-port`, path `/metrics`).

Each `Metrics` has its own `CollectorRegistry`, so tests and the sandbox can run several operators in
one process without "duplicated timeseries" errors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server


class Metrics:
    """Reconcile passes by kind/operation/result, their durations, errors, and cloud calls by verb."""

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

    def observe(self, kind: str, operation: str, result: str, seconds: float) -> None:
        """`result`: `synced`, `requeue` or `error` (reconcile); `done`, `requeue` or `error` (finalize)."""
        self.passes.labels(kind, operation, result).inc()
        self.durations.labels(kind, operation).observe(seconds)
        if result == "error":
            self.errors.labels(kind, operation).inc()

    def cloud_call(self, method: str, url: str) -> None:
        """`CloudContext.call_hook`: one logical cloud call."""
        self.cloud_calls.labels(method.upper()).inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

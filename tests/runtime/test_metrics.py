"""The series the chart's alerts and dashboard read (runtime/metrics.py): what a pass's status sets, what
a finished finalizer removes, and ARM responses counted per retry through the real SDK client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest

from transit_operator.cloud.arm import Arm
from transit_operator.cloud.context import CloudContext
from transit_operator.runtime.driver import Runtime
from transit_operator.runtime.metrics import Metrics
from transit_sandbox.server import SandboxCloud

from .doubles import StatusFromSpecDouble


def samples(metrics: Metrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """{labels: value} of one series in the text exposition, as Prometheus would scrape it."""
    found = {}
    for line in generate_latest(metrics.registry).decode().splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            found[labels] = float(match.group(2))
    return found


def labels(**pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairs.items())


def condition(type_: str, status: str, reason: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": "..."}


def test_conditions_of_each_object_replace_the_previous_ones() -> None:
    metrics = Metrics()
    metrics.observe_status("ServerlessTransit", "ns", "sxt", {"conditions": [
        condition("Ready", "False", "WaitingForApproval"), condition("Reconciling", "True", "WaitingForApproval"),
        condition("Stalled", "False", "WaitingForApproval")]})
    metrics.observe_status("ServerlessTransit", "ns", "sxt", {"conditions": [
        condition("Ready", "True", "Reconciled"), condition("Reconciling", "False", "Reconciled"),
        condition("Stalled", "False", "Reconciled")]})
    assert samples(metrics, "transit_operator_condition") == {
        labels(kind="ServerlessTransit", namespace="ns", name="sxt", condition=c, status=s, reason="Reconciled"): 1.0
        for c, s in (("Ready", "True"), ("Reconciling", "False"), ("Stalled", "False"))
    }


def test_ncc_rule_state_and_haproxy_rollout_come_from_the_transit_status() -> None:
    metrics = Metrics()
    status = {"ncc": {"connectionState": "PENDING"},
              "haproxy": {"desiredConfigHash": "new", "instances": [
                  {"instanceId": "0", "appliedConfigHash": "new"}, {"instanceId": "1", "appliedConfigHash": "old"},
                  {"instanceId": "2"}]}}
    metrics.observe_status("ServerlessTransit", "ns", "sxt", status)
    assert samples(metrics, "transit_operator_ncc_rule") == {labels(namespace="ns", name="sxt", state="PENDING"): 1.0}
    assert samples(metrics, "transit_operator_haproxy_instances") == {labels(namespace="ns", name="sxt"): 3.0}
    assert samples(metrics, "transit_operator_haproxy_instances_config_applied") == {
        labels(namespace="ns", name="sxt"): 1.0}
    metrics.observe_status("ServerlessTransit", "ns", "sxt", {**status, "ncc": {"connectionState": "ESTABLISHED"}})
    assert samples(metrics, "transit_operator_ncc_rule") == {
        labels(namespace="ns", name="sxt", state="ESTABLISHED"): 1.0}


def test_the_broken_hop_is_a_series_while_data_path_healthy_is_false() -> None:
    metrics = Metrics()
    broken = {"conditions": [condition("DataPathHealthy", "False", "HopBroken")],
              "diagnosis": {"firstBrokenHop": "privateEndpoints"}}
    metrics.observe_status("ServerlessTransit", "ns", "sxt", broken)
    assert samples(metrics, "transit_operator_data_path_broken_hop") == {
        labels(namespace="ns", name="sxt", hop="privateEndpoints"): 1.0}
    metrics.observe_status("ServerlessTransit", "ns", "sxt", {
        "conditions": [condition("DataPathHealthy", "True", "HopsHealthy")], "diagnosis": {}})
    assert samples(metrics, "transit_operator_data_path_broken_hop") == {}
    metrics.observe_status("ServerlessTransit", "ns", "sxt", {  # Unknown: nothing seen broken
        "conditions": [condition("DataPathHealthy", "Unknown", "HopUnknown")], "diagnosis": {}})
    assert samples(metrics, "transit_operator_data_path_broken_hop") == {}


def test_a_deleted_object_leaves_no_series() -> None:
    runtime = Runtime(None, StatusFromSpecDouble().reconcilers())
    runtime.metrics.observe_status("ServerlessTransit", "ns", "gone", {
        "conditions": [condition("Ready", "True", "Reconciled")], "ncc": {"connectionState": "ESTABLISHED"},
        "haproxy": {"desiredConfigHash": "h", "instances": [{"instanceId": "0", "appliedConfigHash": "h"}]}})
    runtime.metrics.observe_status("ServerlessTransit", "ns", "kept", {
        "conditions": [condition("Ready", "True", "Reconciled")]})
    runtime.forget("ServerlessTransit", "ns", "gone")
    for name in ("transit_operator_condition", "transit_operator_ncc_rule", "transit_operator_haproxy_instances",
                 "transit_operator_haproxy_instances_config_applied"):
        assert not [key for key in samples(runtime.metrics, name) if ("name", "gone") in key], name
    assert len(samples(runtime.metrics, "transit_operator_condition")) == 1


@pytest.fixture(scope="module")
def cloud() -> Iterator[SandboxCloud]:
    with SandboxCloud() as sandbox:
        yield sandbox


@pytest.mark.slow
def test_throttled_arm_responses_are_counted_each_retry(cloud: SandboxCloud) -> None:
    context = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token)
    runtime = Runtime(context, StatusFromSpecDouble().reconcilers())  # wires the metrics into the context
    vnet = (f"/subscriptions/{cloud.subscription_id}/resourceGroups/rg-metrics/providers/Microsoft.Network/"
            "virtualNetworks/vnet")
    cloud.admin.inject_fault("virtualNetworks/vnet", status=429, count=2, method="GET", retry_after=0.01)
    try:
        assert Arm(context).observe(vnet) is None  # azure-core retried twice, then a 404
    finally:
        cloud.admin.clear_faults()
    assert samples(runtime.metrics, "transit_operator_arm_responses_total") == {
        labels(method="GET", code="429"): 2.0, labels(method="GET", code="404"): 1.0}
    assert samples(runtime.metrics, "transit_operator_cloud_calls_total") == {labels(verb="GET"): 1.0}

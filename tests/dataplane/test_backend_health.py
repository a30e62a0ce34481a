"""HAProxy's own health checks of the Confluent endpoints, and the backend health script (issue 19) run
through NetnsExecutor.run_command as a run command would run it, on real HAProxy."""

from __future__ import annotations

import pytest

from transit_operator.plan.haproxy_config import (
    BackendHealth,
    config_hash,
    parse_backend_health,
    render_backend_health_script,
)
from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor

from .conftest import VMSS, apply, eventually, render

# Azure returns at most the last 4 KB of a run command's output (platform rule 14).
RUN_COMMAND_OUTPUT_LIMIT = 4096


def health(executor: NetnsExecutor, instance: str = "0") -> tuple[int, str, BackendHealth]:
    rc, out, err = executor.run_command(VMSS, instance, render_backend_health_script(), {})
    return rc, out, parse_backend_health(f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}"[-4096:])


@pytest.fixture
def instance(executor: NetnsExecutor, zones: ConfluentZones) -> str:
    """Instance 0 running the operator's config for the three zones; returns the config."""
    executor.instance_created(VMSS, "0", None)
    config = render(zones)
    assert apply(executor, "0", config)[1].result == "applied"
    return config


def test_every_endpoint_is_reported_up_after_a_tls_hello_with_the_config_hash_and_the_instance(
    executor: NetnsExecutor, zones: ConfluentZones, instance: str
) -> None:
    # Checked within one interval (5 s) of the start: each server's first check result replaces INI.
    report = eventually(lambda: (h := health(executor)[2]).servers and all(s.check != "INI" for s in h.servers)
                        and h, timeout=20)  # fmt: skip
    assert isinstance(report, BackendHealth)
    assert report.result == "healthy"
    assert report.config_hash == config_hash(instance)
    assert report.instance == executor.hostname(VMSS, "0")
    assert report.mismatched == 0
    assert [(s.zone, s.port, s.address, s.state, s.check) for s in report.servers] == [
        (zone, 9092, f"{zones.endpoint_ip(zone)}:9092", "UP", "L6OK")  # L6OK: the TLS handshake answered
        for zone in zones.zones
    ]
    rc, out, _ = health(executor)
    assert rc == 0 and len(out.encode()) < RUN_COMMAND_OUTPUT_LIMIT // 4, out


def test_an_endpoint_that_stops_answering_is_reported_down_and_comes_back(
    executor: NetnsExecutor, zones: ConfluentZones, instance: str
) -> None:
    eventually(lambda: health(executor)[2].result == "healthy", timeout=20)
    zones.stop_zone("az2")  # Confluent's SNI proxy behind az2's endpoint refuses connections
    try:
        report = eventually(lambda: (h := health(executor)[2]).result == "degraded" and h, timeout=30)
        assert isinstance(report, BackendHealth)
        assert [(s.zone, s.state.split("-")[0], s.check) for s in report.down] == [("az2", "DOWN", "L4CON")]
    finally:
        zones.start_zone("az2")
    eventually(lambda: health(executor)[2].result == "healthy", timeout=30)


def test_without_haproxy_the_script_says_unknown_and_exits_1(executor: NetnsExecutor) -> None:
    executor.instance_created(VMSS, "0", None)  # a VM where HAProxy never started
    rc, _, report = health(executor)
    assert rc == 1
    assert (report.result, report.config_hash, report.servers) == ("unknown", None, ())
    assert report.detail.startswith("haproxy-not-answering")

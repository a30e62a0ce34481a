"""The HAProxy hops of a data-path diagnosis (issue 19) on real HAProxy in network namespaces: the backend
health script run on every instance as the operator's read-back runs it, read by
`reconcile.transit.proxy_health.haproxy_verdicts`; an instance whose HAProxy is down breaks `proxy` (named),
a Confluent zone that stops answering breaks `backends` (named), and nothing else."""

from __future__ import annotations

import os
import signal

import pytest

from transit_operator.cloud.runcommand import InstanceOutput
from transit_operator.plan.haproxy_config import config_hash, render_backend_health_script
from transit_operator.reconcile.transit.proxy_health import haproxy_verdicts
from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor

from .conftest import VMSS, apply, eventually, render

INSTANCES = ("0", "1")


def read_back(executor: NetnsExecutor) -> dict[str, InstanceOutput]:
    outputs = {}
    for instance in INSTANCES:
        rc, out, err = executor.run_command(VMSS, instance, render_backend_health_script(), {})
        # What the instance view's `output` holds: Azure's run-command message around the script's stdout.
        outputs[instance] = InstanceOutput(instance, rc, f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}")
    return outputs


@pytest.fixture
def fleet(executor: NetnsExecutor, zones: ConfluentZones) -> str:
    """Two instances running the operator's config for the three zones; returns its hash."""
    config = render(zones)
    for instance in INSTANCES:
        executor.instance_created(VMSS, instance, None)
        assert apply(executor, instance, config)[1].result == "applied"
    return config_hash(config)


def verdicts(executor: NetnsExecutor, desired: str) -> tuple[tuple[str, str], tuple[str, str]]:
    proxy, backends = haproxy_verdicts(read_back(executor), desired)
    return (proxy.verdict, proxy.message), (backends.verdict, backends.message)


def test_healthy_then_an_instance_down_breaks_proxy_only(executor: NetnsExecutor, zones: ConfluentZones,
                                                         fleet: str) -> None:
    proxy, backends = eventually(lambda: (v := verdicts(executor, fleet))[1][0] == "Healthy" and v, timeout=30)
    assert proxy == ("Healthy", f"2 instance(s) answer with config {fleet}")

    master = executor.haproxy_master_pid(VMSS, "1")
    assert master is not None
    os.kill(master, signal.SIGKILL)  # the instance's HAProxy is gone (its workers follow the master)
    proxy, backends = eventually(lambda: (v := verdicts(executor, fleet))[0][0] == "Broken" and v, timeout=30)

    assert proxy[1].startswith("instance 1: HAProxy does not answer (haproxy-not-answering")
    assert backends[0] == "Healthy"  # instance 0 still sees every endpoint


def test_a_zone_that_stops_answering_breaks_backends_naming_it(executor: NetnsExecutor, zones: ConfluentZones,
                                                               fleet: str) -> None:
    eventually(lambda: verdicts(executor, fleet)[1][0] == "Healthy", timeout=30)
    address = f"{zones.endpoint_ip('az2')}:9092"
    zones.stop_zone("az2")
    try:
        # Broken as soon as one instance's checks mark the server down; each instance checks on its own
        # clock (every 5 s, down after 2 failures), so wait until both say so.
        proxy, backends = eventually(
            lambda: (v := verdicts(executor, fleet))[1][0] == "Broken"
            and all(f"instance {i}: az2 {address} DOWN" in v[1][1] for i in INSTANCES) and v, timeout=30)
    finally:
        zones.start_zone("az2")
    assert proxy[0] == "Healthy"
    assert "az1" not in backends[1] and "az3" not in backends[1]

"""The Databricks Serverless client path: a client whose resolver answers the NCC rule's domain names with
the NCC endpoint IP, Private Link, the Standard LB (5-tuple hash, the planned health probe) and two VMSS
instances running the operator's HAProxy config, with Apache Kafka behind. Instance loss under load
(HAProxy killed; the whole instance gone) and idle connections against the Private Link idle timeout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from transit_operator.plan.haproxy_config import config_hash
from transit_sandbox import kafka_client
from transit_sandbox.client_path import ServerlessPath, client_path_unavailable_reason, ncc_records
from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor, VNet

from .conftest import (
    HERE,
    VMSS,
    apply,
    eventually,
    ncc_domain_names,
    planned_load_balancer,
    render,
    run_kafka,
)

_REASON = client_path_unavailable_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"client path: {_REASON}")
INSTANCES = ("0", "1")


def start_instances(executor: NetnsExecutor, zones: ConfluentZones, **render_args: Any) -> list[str]:
    for instance in INSTANCES:
        executor.instance_created(VMSS, instance, None)
        assert apply(executor, instance, render(zones, **render_args))[1].result == "applied"
    return [executor.address(VMSS, i) for i in INSTANCES]


def serverless_path(vnet: VNet, zones: ConfluentZones, backends: list[str], *, glb: bool, idle_timeout_s: float = 240
                    ) -> tuple[ServerlessPath, str]:  # fmt: skip
    path = ServerlessPath(vnet, planned_load_balancer(), idle_timeout_s=idle_timeout_s)
    path.set_backends(backends)
    client = path.add_client(ncc_records(ncc_domain_names(zones, glb=glb), path.endpoint_ip))
    path.wait_in_rotation(backends, timeout=15)
    return path, client


@pytest.fixture
def two_instances(executor: NetnsExecutor, zones: ConfluentZones) -> list[str]:
    return start_instances(executor, zones)


def kafka(zones: ConfluentZones, mode: str, topic: str, *args: object, glb: bool = True) -> list[str]:
    return kafka_client.argv(mode, zones.bootstrap(glb=glb), str(zones.ca_file), topic, *args)


def test_serverless_client_reaches_kafka_through_the_ncc_endpoint_and_the_lb_spreads_flows(
    vnet: VNet, zones: ConfluentZones, two_instances: list[str]
) -> None:
    path, client = serverless_path(vnet, zones, two_instances, glb=True)
    with path:
        resolver = path.resolver(client)
        for name in (zones.bootstrap(glb=True).split(":")[0], zones.broker_host(2, glb=True)):
            assert resolver.resolve(name) == [path.endpoint_ip], name
        assert resolver.resolve(zones.broker_host(2)) == [path.endpoint_ip]  # *.az2.<domain> is in the rule too
        assert resolver.resolve("kafka.example.org") == []  # not in the rule: not sent to the NCC endpoint

        # 5-tuple hashing: 24 connections from one client (24 source ports) land on both instances.
        names = [f"b{i}.az{1 + i % 3}.{zones.domain}" for i in range(24)]
        proc = vnet.exec(client, [sys.executable, str(HERE / "tls_probe.py"), str(zones.ca_file), "9092", "-", *names])
        assert proc.returncode == 0, proc.stderr
        assert all(not v.startswith("ERR") for v in json.loads(proc.stdout).values()), proc.stdout
        # conntrack: `src=<client> dst=<NCC endpoint> ... dport=9092 src=<instance> dst=<PLS NAT IP> ...`
        kafka_flows = [f for f in path.flows() if "dport=9092" in f]
        per_instance = {ip: sum(f"src={ip} " in f for f in kafka_flows) for ip in two_instances}
        assert all(count > 0 for count in per_instance.values()), per_instance

        topic = f"serverless-{uuid.uuid4().hex[:8]}"
        produced = run_kafka(vnet, client, kafka(zones, "produce", topic, 2, 500))
        assert produced["failed"] == 0 and produced["delivered"] == produced["sent"] > 500, produced
        consumed = run_kafka(vnet, client, kafka(zones, "consume", topic, produced["sent"]))
        assert (consumed["lost"], consumed["duplicated"], consumed["out_of_order"]) == (0, 0, 0), consumed


def kill_haproxy(executor: NetnsExecutor, instance: str) -> None:
    """SIGKILL the instance's HAProxy master and its workers, by pid."""
    master = executor.haproxy_master_pid(VMSS, instance)
    assert master is not None
    workers = executor.exec(VMSS, instance, ["pgrep", "-P", str(master)])[1].split()
    for pid in [master, *(int(w) for w in workers)]:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("loss", ["haproxy-killed", "instance-gone"])
def test_instance_loss_under_load_loses_no_message(
    vnet: VNet, zones: ConfluentZones, executor: NetnsExecutor, two_instances: list[str], tmp_path: Path,
    loss: str,
) -> None:  # fmt: skip
    path, client = serverless_path(vnet, zones, two_instances, glb=False)
    with path:
        topic = f"loss-{uuid.uuid4().hex[:8]}"
        log = tmp_path / "producer.log"
        # The client settings docs/options.md gives: an instance that is gone keeps its established flows
        # (Standard LB), and only the client's request timeout ends them.
        env = {**os.environ, "TRANSIT_KAFKA_CONFIG": json.dumps(kafka_client.LOST_INSTANCE_SETTINGS)}
        producer = vnet.popen(client, kafka(zones, "produce", topic, 8, 300, glb=False), log=log, env=env)
        try:
            eventually(lambda: '"producing"' in log.read_text(), timeout=30)
            time.sleep(2)
            lost = executor.address(VMSS, "1")
            if loss == "haproxy-killed":
                kill_haproxy(executor, "1")
            else:
                # The VM is gone (no FIN or RST leaves it); the pool still lists it.
                vnet.remove_member(executor.namespace(VMSS, "1"), silently=True)
            eventually(lambda: path.in_rotation() == [two_instances[0]], timeout=20)
            producer.wait(180)
        finally:
            if producer.poll() is None:
                producer.kill()
        down = [e for e in path.probe_events() if e.get("event") == "down" and e.get("backend") == lost
                and e.get("probe") == path.lb.probe().name]  # fmt: skip
        assert down, path.probe_events()
        produced = json.loads(log.read_text().splitlines()[-1])
        assert produced["failed"] == 0 and produced["delivered"] == produced["sent"] > 1000, produced
        consumed = run_kafka(vnet, client, kafka(zones, "consume", topic, produced["sent"], glb=False))
        assert (consumed["lost"], consumed["duplicated"], consumed["out_of_order"]) == (0, 0, 0), consumed


@pytest.mark.parametrize(
    ("keepalive_idle_s", "after_idle"),
    [pytest.param(1, "answered", id="keepalive-below-timeout"), pytest.param(60, "timeout", id="no-keepalive-in-time")],
)
def test_idle_connection_survives_the_private_link_idle_timeout_only_with_keepalives(
    vnet: VNet, zones: ConfluentZones, executor: NetnsExecutor, keepalive_idle_s: int, after_idle: str
) -> None:
    # Private Link forgets a flow idle for 3 s here (~240 s in Azure); HAProxy's keepalives (clitcpka) from
    # the instance through the PLS keep it alive only when they start sooner than that.
    backends = start_instances(executor, zones, keepalive_idle_s=keepalive_idle_s)
    path, client = serverless_path(vnet, zones, backends, glb=False, idle_timeout_s=3)
    with path:
        argv = [sys.executable, str(HERE / "idle_probe.py"), str(zones.ca_file), zones.broker_host(1), "9092", "7"]
        proc = vnet.exec(client, argv, timeout=40)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"first": "answered", "after_idle": after_idle}, path.flows()


STATUS = {"domainName": "transit-status.data-platform.example.com", "port": 8080}
NEEDS_CURL = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (scripts/dev bootstrap installs it)")


def curl_status(vnet: VNet, client: str) -> dict[str, Any]:
    """What a notebook's `%sh curl` gets: the name resolved by the client's resolver (the NCC rule's
    names), the connection through the NCC endpoint, Private Link and the LB to some instance."""
    url = f"http://{STATUS['domainName']}:{STATUS['port']}/status"
    proc = vnet.exec(client, ["curl", "-sS", "--max-time", "5", url], timeout=15)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


@NEEDS_CURL
def test_status_endpoint_answers_a_notebook_through_the_ncc_endpoint_even_when_every_zone_is_down(
    vnet: VNet, zones: ConfluentZones, executor: NetnsExecutor
) -> None:
    backends = start_instances(executor, zones, status_port=STATUS["port"])
    config = render(zones, status_port=STATUS["port"])
    path = ServerlessPath(vnet, planned_load_balancer(STATUS))
    with path:
        path.set_backends(backends)
        names = ncc_domain_names(zones, status_name=STATUS["domainName"])
        assert STATUS["domainName"] in names  # the operator put it on the NCC rule
        client = path.add_client(ncc_records(names, path.endpoint_ip))
        path.wait_in_rotation(backends, timeout=15)
        assert path.resolver(client).resolve(STATUS["domainName"]) == [path.endpoint_ip]

        hostnames = {executor.hostname(VMSS, i) for i in INSTANCES}
        answers = eventually(lambda: (a := [curl_status(vnet, client) for _ in range(8)])
                             and all(set(z.values()) == {"UP"} for s in a for z in s["zones"].values()) and a,
                             timeout=20)  # fmt: skip
        assert isinstance(answers, list)
        assert {a["instance"] for a in answers} == hostnames  # new connections are spread over both instances
        assert {a["configHash"] for a in answers} == {config_hash(config)}
        assert answers[0]["zones"] == {zone: {"9092": "UP"} for zone in zones.zones}

        for zone in zones.zones:  # Confluent unreachable: every Kafka rule loses every instance (/healthz 503)
            zones.stop_zone(zone)
        try:
            eventually(lambda: path.in_rotation() == [], timeout=30)
            down = eventually(lambda: (a := curl_status(vnet, client))["zones"] == {
                zone: {"9092": "DOWN"} for zone in zones.zones} and a, timeout=30)  # fmt: skip
            assert isinstance(down, dict) and down["instance"] in hostnames
            assert sorted(path.in_rotation("haproxy-status")) == sorted(backends)  # its own TCP probe
        finally:
            for zone in zones.zones:
                zones.start_zone(zone)

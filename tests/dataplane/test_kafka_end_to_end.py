"""Apache Kafka (3 brokers, TLS) through one transit instance: produce and consume in both of Confluent's
hostname shapes, and no failed, lost or duplicated message while a zone's endpoint IP changes out of band,
the apply script moves the servers at runtime and the old address then disappears."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor, VNet

from .conftest import VMSS, Client, apply, eventually, render


def workers(executor: NetnsExecutor) -> str:
    return executor.exec(VMSS, "0", ["pgrep", "-P", str(executor.haproxy_master_pid(VMSS, "0"))])[1]


@pytest.mark.parametrize("glb", [pytest.param(False, id="private-names"), pytest.param(True, id="glb-names")])
def test_every_message_arrives_once_and_in_order_through_the_transit(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client, glb: bool
) -> None:
    executor.instance_created(VMSS, "0", None)
    assert apply(executor, "0", render(zones))[1].result == "applied"
    client.point_at(executor.address(VMSS, "0"))
    topic = f"shape-{uuid.uuid4().hex[:8]}"
    produced = client.kafka("produce", topic, "2", "500", glb=glb)
    assert produced["failed"] == 0 and produced["delivered"] == produced["sent"] > 500, produced
    assert produced["partitions"] == len(zones.brokers)  # one leader per zone: every zone's route is used
    consumed = client.kafka("consume", topic, str(produced["sent"]), glb=glb)
    assert (consumed["lost"], consumed["duplicated"], consumed["out_of_order"]) == (0, 0, 0), consumed


def test_endpoint_ip_change_with_the_old_address_removed_loses_nothing(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client, vnet: VNet, tmp_path: Path
) -> None:
    executor.instance_created(VMSS, "0", None)
    assert apply(executor, "0", render(zones))[1].result == "applied"
    master = executor.haproxy_master_pid(VMSS, "0")
    workers_before = workers(executor)
    client.point_at(executor.address(VMSS, "0"))
    topic = f"ipchange-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "producer.log"
    producer = client.kafka_popen(log, "produce", topic, "6", "400")
    zone = "az2"
    try:
        eventually(lambda: '"producing"' in log.read_text(), timeout=30)
        time.sleep(1)
        # Out of band: the zone's private endpoint comes back with a new IP; the old one then goes away.
        old_ip = zones.change_endpoint_ip(zone, vnet.allocate(), keep_old=True)
        rc, result = apply(executor, "0", render(zones))
        assert (rc, result.result, result.detail) == (0, "applied", "updated-at-runtime"), result
        zones.remove_address(zone, old_ip)
        producer.wait(120)
    finally:
        if producer.poll() is None:
            producer.kill()
    assert executor.haproxy_master_pid(VMSS, "0") == master
    assert workers(executor) == workers_before  # no reload: the same worker serves on
    produced = json.loads(log.read_text().splitlines()[-1])
    assert produced["failed"] == 0 and produced["delivered"] == produced["sent"] > 1000, produced
    consumed = client.kafka("consume", topic, str(produced["sent"]))
    assert (consumed["lost"], consumed["duplicated"], consumed["out_of_order"]) == (0, 0, 0), consumed

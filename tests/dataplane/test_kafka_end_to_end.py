"""Kafka (confluent-kafka, TLS) through the transit: produce and consume, and no failed delivery while
a zone's endpoint IP changes out of band and the operator's apply script re-applies the config."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from transit_sandbox.dataplane import ConfluentZones, NetnsExecutor, VNet

from .conftest import VMSS, Client, apply, eventually, render


def test_produce_and_consume_through_the_transit_across_an_endpoint_ip_change(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client, vnet: VNet, tmp_path: Path
) -> None:
    executor.instance_created(VMSS, "0", None)
    assert apply(executor, "0", render(zones))[1].result == "applied"
    client.point_at(executor.address(VMSS, "0"))
    topic = f"transit-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "producer.log"
    producer = client.kafka_popen(log, "produce", topic, "6", "400")
    try:
        eventually(lambda: '"producing"' in log.read_text(), timeout=15)
        time.sleep(1)
        # Out of band: the broker zone's private endpoint comes back with a new IP.
        zone = zones.broker_zone
        old_ip = zones.change_endpoint_ip(zone, vnet.allocate(), keep_old=True)
        rc, result = apply(executor, "0", render(zones))
        assert (rc, result.result, result.detail) == (0, "applied", "reloaded"), result
        # A couple more reloads under load (drop a zone, put it back).
        time.sleep(0.5)
        assert apply(executor, "0", render(zones, drop=("az3",)))[1].result == "applied"
        time.sleep(0.5)
        assert apply(executor, "0", render(zones))[1].result == "applied"
        producer.wait(60)
    finally:
        if producer.poll() is None:
            producer.kill()
    produced = json.loads(log.read_text().splitlines()[-1])
    assert produced["failed"] == 0 and produced["delivered"] == produced["sent"] > 1000, produced

    # New connections use the new IP only: the old address can go.
    zones.remove_address(zone, old_ip)
    consumed = client.kafka("consume", topic, str(produced["sent"]))
    assert consumed["unique"] == produced["sent"] and not consumed["missing"], consumed

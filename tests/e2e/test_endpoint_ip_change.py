"""An endpoint IP that changes in Azure (no spec change) reaches the transit: the ConfluentPrivateLink's
drift check sees it, its status change kicks the transit, which re-applies its backends."""

from __future__ import annotations

import pytest

from .conftest import CPL, SXT, System, eventually, of_kind

NEW_IP_LAST_OCTET = 99


def private_endpoint_ids(system: System, resource_group: str) -> list[str]:
    return sorted(doc["id"] for doc in system.arm_resources(resource_group).values()
                  if doc["type"].lower() == "microsoft.network/privateendpoints")


def gateway_backends(system: System, resource_group: str) -> list[str]:
    gateways = [doc for doc in system.arm_resources(resource_group).values()
                if doc["type"].lower() == "microsoft.network/applicationgateways"]
    assert len(gateways) == 1
    pools = gateways[0]["properties"]["backendAddressPools"]
    return sorted(a["ipAddress"] for pool in pools for a in pool["properties"].get("backendAddresses", []))


def instance_configs(system: System) -> list[str]:
    with system.executor._lock:
        return [config or "" for config in system.executor.configs.values()]


@pytest.mark.parametrize("option", ["haproxy", "applicationGateway"])
async def test_endpoint_ip_change_is_reapplied_to_the_transit_without_a_spec_change(
        system: System, option: str) -> None:
    documents = system.example(option)
    system.apply_all(documents)
    cpl_doc, transit_doc = of_kind(documents, CPL), of_kind(documents, SXT)
    cpl = await system.ready(cpl_doc)
    await system.ready(transit_doc)
    old_ip = cpl["status"]["zones"][0]["privateIp"]
    new_ip = ".".join([*old_ip.split(".")[:3], str(NEW_IP_LAST_OCTET)])
    writes_before = len(system.cloud.admin.writes())

    endpoint = private_endpoint_ids(system, cpl_doc["spec"]["azure"]["resourceGroup"])[0]
    system.cloud.admin.set_private_endpoint_ip(endpoint, new_ip)  # out of band, in Azure

    await eventually(lambda: new_ip in [z["privateIp"] for z in (system.get(cpl_doc) or {})["status"]["zones"]])
    transit_rg = transit_doc["spec"]["azure"]["resourceGroup"]
    if option == "haproxy":
        await eventually(lambda: any(f"{new_ip}:9092" in c for c in instance_configs(system)))
        assert not any(f"{old_ip}:9092" in c for c in instance_configs(system))
        assert system.cloud.admin.requests("PUT", "/runCommands/")  # delivered by managed run commands
    else:
        await eventually(lambda: new_ip in gateway_backends(system, transit_rg))
        assert old_ip not in gateway_backends(system, transit_rg)
    transit = await system.ready(transit_doc)
    assert transit["metadata"]["generation"] == 1  # no spec change
    assert len(system.cloud.admin.writes()) > writes_before

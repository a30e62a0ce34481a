"""The operator killed while a long-running operation is in flight, and started again: it converges and
creates nothing twice (nothing is remembered in memory that the cloud and the CRs do not also hold)."""

from __future__ import annotations

import pytest

from .conftest import CPL, SXT, System, eventually, of_kind

# option -> (the slow resource type, resources the whole example must end with, by resource group key)
CASES = {
    "haproxy": ("Microsoft.Compute/virtualMachineScaleSets", {
        "transit": {"Microsoft.Compute/virtualMachineScaleSets": 1, "Microsoft.Network/loadBalancers": 1,
                    "Microsoft.Network/privateLinkServices": 1, "Microsoft.Network/networkSecurityGroups": 1},
        "confluent": {"Microsoft.Network/privateEndpoints": 1, "Microsoft.Network/privateDnsZones": 1},
    }),
    "applicationGateway": ("Microsoft.Network/applicationGateways", {
        "transit": {"Microsoft.Network/applicationGateways": 1, "Microsoft.Network/publicIPAddresses": 1,
                    "Microsoft.Network/networkSecurityGroups": 1, "Microsoft.Network/privateEndpoints": 3,
                    "Microsoft.Network/privateDnsZones": 1},
    }),
}
SLOW_LRO_SECONDS = 3.0


@pytest.mark.parametrize("option", list(CASES))
async def test_operator_killed_mid_provisioning_converges_after_restart_without_duplicates(
        system: System, option: str) -> None:
    slow_type, expected = CASES[option]
    system.cloud.admin.set_lro_seconds(slow_type, SLOW_LRO_SECONDS)
    documents = system.example(option)
    cpl_doc, transit_doc = of_kind(documents, CPL), of_kind(documents, SXT)
    system.apply_all(documents)
    slow_segment = slow_type.split("/")[-1]
    await eventually(lambda: system.cloud.admin.requests("PUT", slow_segment))

    await system.kill_operator()  # the LRO is still running in Azure
    in_flight = system.arm_resources(transit_doc["spec"]["azure"]["resourceGroup"])
    assert any(doc["type"] == slow_type and doc["properties"].get("provisioningState") != "Succeeded"
               for doc in in_flight.values())
    await system.start_operator()

    await system.ready(cpl_doc, timeout=30)
    await system.ready(transit_doc, timeout=30)
    groups = {"transit": transit_doc["spec"]["azure"]["resourceGroup"],
              "confluent": cpl_doc["spec"]["azure"]["resourceGroup"]}
    for key, counts in expected.items():
        found = system.arm_counts(groups[key])
        assert {t: found[t] for t in counts} == counts, key
    created_twice = {path: n for path, n in system.arm_creates().items() if n > 1}
    assert created_twice == {}
    assert system.databricks_creates() == {"ncc": 1, "rule": 1}
    assert len(system.cloud.databricks.nccs) == 1 and len(system.cloud.databricks.rules) == 1

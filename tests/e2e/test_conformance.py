"""Every ARM exchange of a whole life - apply, endpoint IP change, delete - conforms to the Azure REST specs
at the served api-versions, for both options and both deletion policies, and the life goes through every
kind of operation the operator uses (so "no violation" is not "nothing checked").

The `system` fixture judges every exchange of every e2e test (tests/e2e/conftest.py); this test makes the
coverage explicit: the SDK operations the exchanges map to (`transit_sandbox.conformance.find_operation`).
"""

from __future__ import annotations

import pytest

from transit_sandbox import conformance

from .conftest import CPL, SXT, System, eventually, of_kind

# (operations group, method) every life must go through, beyond the common reads and writes
COMMON = {
    ("PrivateEndpointsOperations", "begin_create_or_update"),
    ("PrivateZonesOperations", "begin_create_or_update"),
    ("VirtualNetworkLinksOperations", "begin_create_or_update"),
    ("RecordSetsOperations", "create_or_update"),
    ("NetworkInterfacesOperations", "get"),
}
BY_OPTION = {
    "haproxy": {
        ("LoadBalancersOperations", "begin_create_or_update"),
        ("PrivateLinkServicesOperations", "begin_create_or_update"),
        ("PrivateLinkServicesOperations", "update_private_endpoint_connection"),  # approve
        ("VirtualMachineScaleSetsOperations", "begin_create_or_update"),
        ("VirtualMachineScaleSetVMRunCommandsOperations", "begin_create_or_update"),  # config rollout
        ("VirtualMachineScaleSetVMRunCommandsOperations", "list"),
        ("VirtualMachineScaleSetVMRunCommandsOperations", "begin_delete"),
    },
    "applicationGateway": {
        ("ApplicationGatewaysOperations", "begin_create_or_update"),
        ("ApplicationGatewayPrivateEndpointConnectionsOperations", "begin_update"),  # approve
        ("PublicIPAddressesOperations", "begin_create_or_update"),
        ("SubnetsOperations", "begin_create_or_update"),  # the NSG association
    },
}
BY_POLICY = {
    "Delete": {("PrivateEndpointsOperations", "begin_delete"), ("NetworkSecurityGroupsOperations", "begin_delete")},
    "Orphan": {("NetworkSecurityGroupsOperations", "update_tags")},  # released: tags only
}


def operations_used(system: System) -> set[tuple[str, str]]:
    used = set()
    for record in system.cloud.admin.requests():
        op = conformance.find_operation(record.method, record.path, record.api_version)
        if op is not None:
            used.add((op.group, op.name))
    return used


# The Azure side is what is judged here: the embedded Kubernetes API is enough (the other e2e tests run
# on the real API server too).
@pytest.mark.parametrize("kube_server", ["embedded"], indirect=True)
@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
@pytest.mark.parametrize("option", ["haproxy", "applicationGateway"])
async def test_a_whole_life_conforms_and_covers_every_operation_the_operator_uses(
        system: System, option: str, policy: str) -> None:
    documents = system.example(option)
    for doc in documents:
        doc["spec"]["deletionPolicy"] = policy
    system.apply_all(documents)
    cpl_doc, transit_doc = of_kind(documents, CPL), of_kind(documents, SXT)
    cpl = await system.ready(cpl_doc)
    await system.ready(transit_doc)
    endpoint = next(doc["id"] for doc in system.arm_resources(cpl_doc["spec"]["azure"]["resourceGroup"]).values()
                    if doc["type"] == "Microsoft.Network/privateEndpoints")
    old_ip = cpl["status"]["zones"][0]["privateIp"]
    system.cloud.admin.set_private_endpoint_ip(endpoint, ".".join([*old_ip.split(".")[:3], "99"]))
    await eventually(lambda: (system.get(transit_doc) or {}).get("status", {}).get("backendIps", []).count(
        ".".join([*old_ip.split(".")[:3], "99"])) == 1)
    await system.ready(transit_doc)
    for doc in documents:
        system.delete(doc)
    await eventually(lambda: all(system.get(doc) is None for doc in documents))

    missing = (COMMON | BY_OPTION[option] | BY_POLICY[policy]) - operations_used(system)
    assert missing == set()
    assert system.cloud.admin.take_violations() == []

"""The conformance check (`transit_sandbox.conformance`) catches what it is meant to catch, in both
directions: a violation planted in a request a client sends, and one planted in a response the emulator
gives. Each plant is the smallest change to an otherwise clean exchange, made through the real SDK client."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient

from transit_sandbox import conformance
from transit_sandbox.arm import core, network, privatedns
from transit_sandbox.server import SandboxCloud


def _vnet(**extra_props: Any) -> dict[str, Any]:
    return {
        "location": "westeurope",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.7.0.0/16"]},
            "subnets": [{"name": "a", "properties": {"addressPrefix": "10.7.1.0/24"}}],
            **extra_props,
        },
    }


def _violations(cloud: SandboxCloud, direction: str) -> list[conformance.Violation]:
    return [v for v in conformance.check(cloud.admin.requests()) if v.direction == direction]


def _put_vnet(client: NetworkManagementClient, rg: str, body: dict[str, Any]) -> None:
    client.virtual_networks.begin_create_or_update(rg, "vnet", body).result()
    client.virtual_networks.get(rg, "vnet")


def _attempt(call: Callable[[], Any]) -> None:
    """Make the call; a refused request (or a response the SDK cannot read) is still an exchange to judge."""
    with contextlib.suppress(Exception):  # what the SDK raises is not the point here
        call()


def test_clean_exchanges_have_no_violation(
    sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, dns_client: PrivateDnsManagementClient,
    rg: str,
) -> None:
    _put_vnet(network_client, rg, _vnet())
    dns_client.private_zones.begin_create_or_update(rg, "c.example", {"location": "global"}).result()
    dns_client.record_sets.create_or_update(
        rg, "c.example", "A", "www", {"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.7.1.4"}]}}
    )
    network_client.virtual_networks.begin_delete(rg, "vnet").result()

    assert conformance.check(sandbox_cloud.admin.requests()) == []


def _with_subnet(**item: Any) -> dict[str, Any]:
    body = _vnet()
    body["properties"]["subnets"][0].update(item)
    return body


def _with_subnet_props(**props: Any) -> dict[str, Any]:
    body = _vnet()
    body["properties"]["subnets"][0]["properties"].update(props)
    return body


@pytest.mark.parametrize(
    ("body", "where", "problem", "status"),
    [
        pytest.param(_with_subnet(etag='W/"1"'), "body.properties.subnets[0].etag", "readOnly in Subnet", 201,
                     id="nested-readonly-etag"),
        pytest.param(_with_subnet_props(provisioningState="Succeeded"),
                     "body.properties.subnets[0].properties.provisioningState", "readOnly", 201,
                     id="nested-readonly-state"),
        pytest.param(_vnet(resourceGuid="0f6a1c5e-1a2b-4c3d-8e9f-001122334455"), "body.properties.resourceGuid",
                     "readOnly", 201, id="top-readonly"),
        pytest.param(_vnet(madeUp=True), "body.properties.madeUp", "not declared by VirtualNetworkPropertiesFormat",
                     400, id="undeclared"),
        pytest.param(_vnet(enableDdosProtection="yes"), "body.properties.enableDdosProtection", "expected a boolean",
                     400, id="wrong-json-type"),
        pytest.param(_with_subnet_props(ipamPoolPrefixAllocations=[{"numberOfIpAddresses": 5}]),
                     "body.properties.subnets[0].properties.ipamPoolPrefixAllocations[0].numberOfIpAddresses",
                     "expected a string", 400, id="wrong-type-deep"),
    ],
)
def test_a_violation_planted_in_a_request_is_reported_where_it_is(
    sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, rg: str,
    body: dict[str, Any], where: str, problem: str, status: int,
) -> None:
    """Read-only members are ignored by Azure (and reported here); members Network cannot parse are refused
    with its `InvalidRequestFormat` (and reported here too)."""
    _attempt(lambda: network_client.virtual_networks.begin_create_or_update(rg, "vnet", body).result())

    found = _violations(sandbox_cloud, "request")

    assert [(v.method, v.where, v.status) for v in found] == [("PUT", where, status)]
    assert problem in found[0].problem
    assert _violations(sandbox_cloud, "response") == []


def test_a_member_network_cannot_parse_is_refused_with_azures_error(
    sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, rg: str,
) -> None:
    with pytest.raises(HttpResponseError) as refused:
        network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(madeUp=True))

    assert (refused.value.status_code, refused.value.error.code) == (400, "InvalidRequestFormat")
    (detail,) = refused.value.error.details
    assert (detail.code, detail.message) == (
        "InvalidJson",
        "Could not find member 'madeUp' on object of type 'VirtualNetworkPropertiesFormat'. Path 'properties.madeUp'.",
    )


def test_a_required_property_missing_from_a_request_is_reported(
    sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, rg: str,
) -> None:
    rule = {"name": "r", "properties": {"protocol": "Tcp", "access": "Allow", "priority": 100,
                                        "sourceAddressPrefix": "*", "destinationAddressPrefix": "*",
                                        "sourcePortRange": "*", "destinationPortRange": "443"}}
    _attempt(lambda: network_client.network_security_groups.begin_create_or_update(
        rg, "nsg", {"location": "westeurope", "properties": {"securityRules": [rule]}}).result())

    found = _violations(sandbox_cloud, "request")

    assert [(v.where, v.problem) for v in found] == [
        ("body.properties.securityRules[0].properties.direction", "required by SecurityRulePropertiesFormat but missing")
    ]


def _undeclared_property(monkeypatch: pytest.MonkeyPatch) -> None:
    real = network.VirtualNetwork.decorate

    def decorate(self: Any, arm: Any, view: dict[str, Any]) -> None:
        real(self, arm, view)
        view["properties"]["madeUp"] = 1

    monkeypatch.setattr(network.VirtualNetwork, "decorate", decorate)


def _state_where_undeclared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(privatedns.RecordSet, "has_provisioning_state", True)


def _wrong_status(monkeypatch: pytest.MonkeyPatch) -> None:
    real = core.Kind.put

    def put(self: Any, *args: Any, **kwargs: Any) -> core.Response:
        response = real(self, *args, **kwargs)
        return core.Response(202, response.body, response.headers)

    monkeypatch.setattr(network.VirtualNetwork, "put", put)


def _no_async_header(monkeypatch: pytest.MonkeyPatch) -> None:
    real = core.Arm.lro_headers

    def lro_headers(self: Any, op: Any) -> dict[str, str]:
        return {k: v for k, v in real(self, op).items() if k != "Azure-AsyncOperation"}

    monkeypatch.setattr(core.Arm, "lro_headers", lro_headers)


def _fractional_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.Arm, "retry_after_header", lambda self: "0.5")


def _unwrapped_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.ArmError, "body", lambda self: {"code": self.code, "message": self.message})


def _vnet_then_record_set(client: NetworkManagementClient, dns: PrivateDnsManagementClient, rg: str) -> None:
    _attempt(lambda: client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), polling=False))
    _attempt(lambda: client.virtual_networks.get(rg, "vnet"))
    _attempt(lambda: dns.record_sets.create_or_update(rg, "c.example", "A", "www", {"properties": {"ttl": 60}}))
    _attempt(lambda: client.virtual_networks.get(rg, "missing"))


@pytest.mark.conformance_plants
@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        pytest.param(_undeclared_property, [("PUT", "body.properties.madeUp"), ("GET", "body.properties.madeUp")],
                     id="undeclared-property"),
        pytest.param(_state_where_undeclared, [("PUT", "body.properties.provisioningState")],
                     id="provisioning-state-where-undeclared"),
        pytest.param(_wrong_status, [("PUT", "status")], id="status-not-declared"),
        pytest.param(_no_async_header, [("PUT", "header Azure-AsyncOperation")], id="lro-header-missing"),
        pytest.param(_fractional_retry_after, [("PUT", "header Retry-After")], id="retry-after-not-integer"),
        pytest.param(_unwrapped_error, [("GET", "body")], id="error-body-not-arm-shape"),
    ],
)
def test_a_violation_planted_in_an_emulator_response_is_reported(
    sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, dns_client: PrivateDnsManagementClient,
    rg: str, monkeypatch: pytest.MonkeyPatch, plant: Callable[[pytest.MonkeyPatch], None],
    expected: list[tuple[str, str]],
) -> None:
    dns_client.private_zones.begin_create_or_update(rg, "c.example", {"location": "global"}).result()
    sandbox_cloud.admin.clear_requests()
    plant(monkeypatch)
    _vnet_then_record_set(network_client, dns_client, rg)

    found = _violations(sandbox_cloud, "response")

    assert [(v.method, v.where) for v in found] == expected, [str(v) for v in found]
    assert _violations(sandbox_cloud, "request") == []


def test_an_operation_result_is_judged_by_the_operation_that_started_it() -> None:
    """A final result fetched from `Location` is the starting operation's model (here: a PUT's resource)."""
    base = "/subscriptions/0f6a1c5e-1a2b-4c3d-8e9f-001122334455"
    put = conformance_record("PUT", f"{base}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v",
                             201, body=_vnet(), response={"name": "v", "properties": {}},
                             headers={"Azure-AsyncOperation": f"https://x{base}/providers/Microsoft.Network/locations/"
                                      "westeurope/operations/op1?api-version=2026-03-01", "Retry-After": "0"})
    result = conformance_record("GET", f"{base}/providers/Microsoft.Network/locations/westeurope/operationResults/op1",
                                200, response={"name": "v", "properties": {"bogus": 1}})

    found = conformance.check([put, result])

    assert [(v.path.rsplit("/", 1)[-1], v.where) for v in found] == [("op1", "body.properties.bogus")]


def conformance_record(method: str, path: str, status: int, *, body: Any = None, response: Any = None,
                       headers: dict[str, str] | None = None) -> Any:
    from transit_sandbox.arm.faults import RequestRecord

    version = "2026-03-01"
    return RequestRecord(method, path, version, status, 0.0, 0.0, body, response, headers or {})

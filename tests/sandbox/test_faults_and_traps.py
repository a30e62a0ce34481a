"""What the crash, drift and fault matrices steer in the sandbox, checked through the real clients: write
traps (act at the Nth write, before or after it applied), a connection reset mid-answer with the write
applied, LROs that end Canceled, Databricks faults with Retry-After, out-of-band writes that obey Azure's
rules, and the Kubernetes proxy's faults."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import requests
from azure.core.exceptions import HttpResponseError, IncompleteReadError, ServiceResponseError

from transit_sandbox.arm.core import ArmError
from transit_sandbox.kube import KubeEmulator
from transit_sandbox.kube_proxy import KubeProxy
from transit_sandbox.server import SandboxCloud
from transit_sandbox.traps import Write, WriteCounter, WriteTrap


def _vnet(prefix: str = "10.7.0.0/16") -> dict:
    return {"location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": [prefix]}}}


def _nsg(port: str = "9092") -> dict:
    return {"location": "westeurope", "properties": {"securityRules": [{"name": "kafka", "properties": {
        "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp", "sourceAddressPrefix": "*",
        "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": port}}]}}


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_write_trap_acts_at_the_nth_write_and_before_means_never_applied(
        network_client, sandbox_cloud: SandboxCloud, rg: str, when: str) -> None:
    fired: list[Write] = []
    trap = WriteTrap(2, when, action=fired.append)  # type: ignore[arg-type]
    sandbox_cloud.set_write_trap(trap)
    try:
        network_client.network_security_groups.begin_create_or_update(rg, "first", _nsg()).result()
        if when == "before":
            with pytest.raises(ServiceResponseError):  # the connection closes with no answer
                network_client.network_security_groups.begin_create_or_update(rg, "second", _nsg(),
                                                                              retry_total=0).result()
        else:
            network_client.network_security_groups.begin_create_or_update(rg, "second", _nsg()).result()
    finally:
        sandbox_cloud.set_write_trap(None)
    assert [w.path.rsplit("/", 1)[-1] for w in fired] == ["second"] and trap.fired == fired[0]
    names = {n.name for n in network_client.network_security_groups.list(rg)}
    assert names == ({"first"} if when == "before" else {"first", "second"})


def test_a_counter_lists_the_writes_and_never_acts(network_client, sandbox_cloud: SandboxCloud, rg: str) -> None:
    counter = WriteCounter()
    sandbox_cloud.set_write_trap(counter)
    try:
        network_client.network_security_groups.begin_create_or_update(rg, "counted", _nsg()).result()
        network_client.network_security_groups.get(rg, "counted")
        network_client.network_security_groups.begin_delete(rg, "counted").result()
    finally:
        sandbox_cloud.set_write_trap(None)
    assert [w.method for w in counter.seen] == ["PUT", "DELETE"] and counter.fired is None


def test_a_reset_mid_answer_fails_the_call_but_the_write_is_applied(
        network_client, sandbox_cloud: SandboxCloud, rg: str) -> None:
    sandbox_cloud.admin.inject_fault("/networkSecurityGroups/cut", method="PUT", reset=True)
    with pytest.raises(IncompleteReadError):  # the status line came, half of the body did
        network_client.network_security_groups.begin_create_or_update(rg, "cut", _nsg(), retry_total=0).result()
    assert network_client.network_security_groups.get(rg, "cut").name == "cut"
    logged = sandbox_cloud.admin.requests("PUT", "/networkSecurityGroups/cut")
    assert [(r.status, r.injected) for r in logged] == [(201, True)]


def test_an_lro_can_end_canceled(network_client, sandbox_cloud: SandboxCloud, rg: str) -> None:
    failure = sandbox_cloud.admin.fail_lro("/networkSecurityGroups/cancelled", code="OperationCanceled",
                                           status="Canceled")
    with pytest.raises(HttpResponseError):
        network_client.network_security_groups.begin_create_or_update(rg, "cancelled", _nsg()).result()
    assert network_client.network_security_groups.get(rg, "cancelled").provisioning_state == "Canceled"
    assert failure.count == 0
    with pytest.raises(ValueError):
        sandbox_cloud.admin.fail_lro("x", status="Exploded")


def test_out_of_band_writes_obey_azures_rules(network_client, sandbox_cloud: SandboxCloud, rg: str) -> None:
    network_client.network_security_groups.begin_create_or_update(rg, "theirs", _nsg()).result()
    nsg = network_client.network_security_groups.get(rg, "theirs").as_dict()
    body = sandbox_cloud.admin.resource(nsg["id"])
    assert body is not None
    body["properties"]["securityRules"][0]["properties"]["destinationPortRange"] = "9093"
    sandbox_cloud.admin.out_of_band("PUT", nsg["id"], body)
    time.sleep(0.1)
    rule = network_client.network_security_groups.get(rg, "theirs").security_rules[0]
    assert rule.destination_port_range == "9093"
    with pytest.raises(ArmError) as refused:  # a location change is refused, as for any client
        sandbox_cloud.admin.out_of_band("PUT", nsg["id"], {**body, "location": "eastus"})
    assert refused.value.code == "InvalidResourceLocation"
    assert len(sandbox_cloud.admin.requests("PUT", "/networkSecurityGroups/theirs")) == 1  # not logged as the operator's


def test_databricks_faults_carry_retry_after_and_a_reset_applies_the_create(sandbox_cloud: SandboxCloud) -> None:
    state = sandbox_cloud.databricks
    account = state.account_id
    url = f"{sandbox_cloud.databricks_url}/api/2.0/accounts/{account}/network-connectivity-configs"
    headers = {"Authorization": f"Bearer {sandbox_cloud.token}"}
    state.inject_fault("GET", "network-connectivity-configs$", 429, "REQUEST_LIMIT_EXCEEDED", "slow down",
                       retry_after=3)
    throttled = requests.get(url, headers=headers, verify=sandbox_cloud.ca_bundle, timeout=5)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    state.inject_fault("POST", "network-connectivity-configs$", 0, "", "", reset=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # the answer's body was cut
        requests.post(url, json={"name": "ncc-cut", "region": "westeurope"}, headers=headers,
                      verify=sandbox_cloud.ca_bundle, timeout=5)
    assert any(ncc["name"] == "ncc-cut" for ncc in state.nccs.values())
    assert [(r.status, r.injected) for r in state.requests()[-2:]] == [(429, True), (200, True)]


def test_the_kube_proxy_forwards_and_injects_statuses_expired_watches_and_traps() -> None:
    with KubeEmulator() as kube, KubeProxy(kube.url) as proxy:
        namespaces = f"{proxy.url}/api/v1/namespaces"
        with urllib.request.urlopen(namespaces, timeout=5) as listed:
            assert json.load(listed)["kind"] == "NamespaceList"
        proxy.inject_fault("GET", r"/namespaces$", 429, retry_after=2, watch=False)
        with pytest.raises(urllib.error.HTTPError) as throttled:
            urllib.request.urlopen(namespaces, timeout=5)
        assert throttled.value.code == 429 and throttled.value.headers["Retry-After"] == "2"
        assert json.load(throttled.value)["reason"] == "TooManyRequests"
        proxy.inject_fault("GET", r"/namespaces$", kind="watch_expired", watch=True)
        with urllib.request.urlopen(namespaces + "?watch=true", timeout=5) as watch:
            event = json.loads(watch.readline())
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        fired: list[Write] = []
        proxy.set_write_trap(WriteTrap(1, "before", action=fired.append))
        body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "trapped"}}).encode()
        request = urllib.request.Request(namespaces, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(request, timeout=5)
        client = kube.client()
        assert [w.method for w in fired] == ["POST"] and client.get("v1", "Namespace", "trapped") is None
        client.close()
        assert [(r.status, r.fault) for r in proxy.requests("GET", r"/namespaces$")] == [
            (200, None), (429, "status"), (200, "watch_expired")]

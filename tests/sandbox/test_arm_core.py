"""Generic ARM behaviour of the emulator, seen through the real azure-mgmt-* clients."""

from __future__ import annotations

import json
import time

import pytest
import requests
from azure.core import MatchConditions
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from transit_sandbox.server import SandboxCloud


def _vnet(prefix: str = "10.1.0.0/16", **props) -> dict:
    return {"location": "westeurope", "tags": {"owner": "test"},
            "properties": {"addressSpace": {"addressPrefixes": [prefix]}, **props}}


def test_wrong_token_is_refused_with_an_arm_error(sandbox_cloud: SandboxCloud, make_network_client) -> None:
    client = make_network_client(sandbox_cloud, token="wrong")
    with pytest.raises(ClientAuthenticationError) as err:
        client.virtual_networks.get("rg", "vnet")
    assert err.value.status_code == 401
    assert err.value.error.code == "InvalidAuthenticationToken"


def test_missing_authorization_header_is_refused(sandbox_cloud: SandboxCloud) -> None:
    url = f"{sandbox_cloud.arm_url}/subscriptions/{sandbox_cloud.subscription_id}/resourceGroups/rg/providers/" \
          "Microsoft.Network/virtualNetworks/v?api-version=2026-03-01"
    response = requests.get(url, verify=sandbox_cloud.ca_bundle, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


@pytest.mark.parametrize(("api_version", "code"), [
    pytest.param("2030-01-01", "NoRegisteredProviderFound", id="unknown-version"),
    pytest.param("2018-10-01", "NoRegisteredProviderFound", id="version-of-another-type"),
])
def test_unknown_api_version_is_refused(network_client, rg: str, api_version: str, code: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.get(rg, "vnet", api_version=api_version)
    assert err.value.error.code == code


def test_subscription_must_be_a_guid(sandbox_cloud: SandboxCloud, make_network_client) -> None:
    client = make_network_client(sandbox_cloud, subscription="not-a-guid")
    with pytest.raises(HttpResponseError) as err:
        client.virtual_networks.get("rg", "vnet")
    assert err.value.error.code == "InvalidSubscriptionId"


def test_missing_resource_is_404_resource_not_found(network_client, rg: str) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        network_client.private_endpoints.get(rg, "nope")
    assert err.value.error.code == "ResourceNotFound"
    assert f"Microsoft.Network/privateEndpoints/nope' under resource group '{rg}' was not found" in err.value.message


def test_create_then_update_with_lro_new_etag_and_tags(network_client, sandbox_cloud, rg: str) -> None:
    created = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet()).result()
    assert created.provisioning_state == "Succeeded"
    assert created.tags == {"owner": "test"}
    assert created.resource_guid
    writes = sandbox_cloud.admin.requests(method="PUT", path_contains="/virtualNetworks/vnet")
    assert [w.status for w in writes] == [201]
    updated = network_client.virtual_networks.begin_create_or_update(
        rg, "vnet", _vnet(), ).result()
    assert updated.etag != created.etag
    assert updated.resource_guid == created.resource_guid
    assert [w.status for w in sandbox_cloud.admin.requests(method="PUT", path_contains="/virtualNetworks/vnet")] == [201, 200]
    assert all(w.api_version == "2026-03-01" for w in writes)


def test_ids_are_case_insensitive_and_keep_their_casing(network_client, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "MixedCase", _vnet()).result()
    got = network_client.virtual_networks.get(rg.upper(), "mixedcase")
    assert got.name == "MixedCase"
    assert f"/resourceGroups/{rg}/" in got.id


def test_put_replaces_the_whole_resource(network_client, rg: str) -> None:
    body = _vnet(subnets=[{"name": "a", "properties": {"addressPrefix": "10.1.1.0/24"}}])
    network_client.virtual_networks.begin_create_or_update(rg, "vnet", body).result()
    replaced = network_client.virtual_networks.begin_create_or_update(rg, "vnet", {
        "location": "westeurope", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}}).result()
    assert replaced.subnets == []
    assert replaced.tags is None


def test_provisioning_state_is_updating_until_the_lro_completes(network_client, sandbox_cloud, rg: str) -> None:
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/virtualNetworks", 0.5)
    poller = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), polling=False)
    assert poller.result().provisioning_state == "Updating"
    assert network_client.virtual_networks.get(rg, "vnet").provisioning_state == "Updating"
    time.sleep(0.6)
    assert network_client.virtual_networks.get(rg, "vnet").provisioning_state == "Succeeded"


def test_failed_lro_surfaces_the_error_and_failed_state(network_client, sandbox_cloud, rg: str) -> None:
    sandbox_cloud.admin.fail_lro("virtualNetworks", code="InternalServerError", message="boom")
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet()).result()
    assert "boom" in str(err.value)
    assert network_client.virtual_networks.get(rg, "vnet").provisioning_state == "Failed"


def test_delete_is_an_lro_and_missing_delete_is_204(network_client, sandbox_cloud, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet()).result()
    network_client.virtual_networks.begin_delete(rg, "vnet").result()
    with pytest.raises(ResourceNotFoundError):
        network_client.virtual_networks.get(rg, "vnet")
    network_client.virtual_networks.begin_delete(rg, "vnet").result()
    assert [r.status for r in sandbox_cloud.admin.requests(method="DELETE")] == [202, 204]


def test_list_by_resource_group_and_subscription(network_client, rg: str) -> None:
    for name in ("one", "two"):
        network_client.virtual_networks.begin_create_or_update(rg, name, _vnet()).result()
    assert sorted(v.name for v in network_client.virtual_networks.list(rg)) == ["one", "two"]
    assert {"one", "two"} <= {v.name for v in network_client.virtual_networks.list_all()}


def test_if_match_and_if_none_match(network_client, dns_client, rg: str) -> None:
    zone = dns_client.private_zones.begin_create_or_update(rg, "example.internal", {"location": "global"}).result()
    with pytest.raises(HttpResponseError) as err:
        dns_client.private_zones.begin_create_or_update(
            rg, "example.internal", {"location": "global"}, etag='W/"stale"',
            match_condition=MatchConditions.IfNotModified).result()
    assert err.value.status_code == 412
    assert err.value.error.code == "PreconditionFailed"
    with pytest.raises(HttpResponseError) as err:
        dns_client.private_zones.begin_create_or_update(
            rg, "example.internal", {"location": "global"}, match_condition=MatchConditions.IfMissing).result()
    assert err.value.status_code == 412
    ok = dns_client.private_zones.begin_create_or_update(
        rg, "example.internal", {"location": "global"}, etag=zone.etag,
        match_condition=MatchConditions.IfNotModified).result()
    assert ok.etag != zone.etag
    # Network types take If-Match through raw headers.
    vnet = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet()).result()
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), headers={"If-Match": 'W/"x"'})
    assert err.value.status_code == 412
    network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), headers={"If-Match": vnet.etag}).result()


def test_dangling_reference_is_invalid_resource_reference(network_client, topo) -> None:
    body = topo.lb_body()
    body["properties"]["loadBalancingRules"][0]["properties"]["probe"] = {"id": topo.id("loadBalancers", "lb") + "/probes/x"}
    with pytest.raises(HttpResponseError) as err:
        network_client.load_balancers.begin_create_or_update(topo.rg, "lb", body)
    assert err.value.error.code == "InvalidResourceReference"
    pe = topo.pe_body(topo.id("privateLinkServices", "pls"))
    pe["properties"]["subnet"]["id"] = topo.subnet("missing")
    with pytest.raises(HttpResponseError) as err:
        network_client.private_endpoints.begin_create_or_update(topo.rg, "pe", pe)
    assert err.value.error.code == "InvalidResourceReference"


def test_throttling_429_is_retried_after_retry_after(network_client, sandbox_cloud, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "throttled", _vnet()).result()
    sandbox_cloud.admin.clear_requests()
    sandbox_cloud.admin.inject_fault("/virtualNetworks/throttled", status=429, count=1, method="GET", retry_after=0.3)
    started = time.monotonic()
    assert network_client.virtual_networks.get(rg, "throttled").name == "throttled"
    assert time.monotonic() - started >= 0.3
    log = sandbox_cloud.admin.requests(method="GET", path_contains="/virtualNetworks/throttled")
    assert [r.status for r in log] == [429, 200]


@pytest.mark.parametrize("status", [pytest.param(500, id="500"), pytest.param(503, id="503")])
def test_transient_5xx_is_retried_by_azure_core(network_client, sandbox_cloud, rg: str, status: int) -> None:
    sandbox_cloud.admin.inject_fault("/virtualNetworks/flaky", status=status, count=2, method="PUT")
    network_client.virtual_networks.begin_create_or_update(rg, "flaky", _vnet()).result()
    assert [r.status for r in sandbox_cloud.admin.requests(method="PUT")] == [status, status, 201]


def test_sustained_throttling_surfaces_429(network_client, sandbox_cloud, rg: str) -> None:
    sandbox_cloud.admin.inject_fault("/virtualNetworks/", status=429, count=10, method="GET", retry_after=0)
    with pytest.raises(HttpResponseError) as err:
        network_client.virtual_networks.get(rg, "anything", retry_total=1)
    assert err.value.status_code == 429
    assert err.value.error.code == "TooManyRequests"


def test_admin_endpoint_over_https(sandbox_cloud: SandboxCloud, network_client, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet()).result()
    url = f"{sandbox_cloud.arm_url}/_sandbox/admin/requests"
    response = requests.post(url, data=json.dumps({"method": "PUT"}), verify=sandbox_cloud.ca_bundle, timeout=5,
                             headers={"Authorization": f"Bearer {sandbox_cloud.token}"})
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["result"]] == [201]


def test_state_persists_across_restarts(tmp_path, make_network_client) -> None:
    with SandboxCloud(state_dir=tmp_path) as cloud:
        client = make_network_client(cloud)
        created = client.virtual_networks.begin_create_or_update("rg", "kept", _vnet()).result()
        token = cloud.token
    with SandboxCloud(state_dir=tmp_path) as cloud:
        assert cloud.token == token
        client = make_network_client(cloud)
        assert client.virtual_networks.get("rg", "kept").etag == created.etag


def test_emulator_command_prints_endpoints_and_exits_0_on_sigterm(tmp_path) -> None:
    import select
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "transit_operator", "emulator", "--state-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "no endpoint line"
        line = json.loads(proc.stdout.readline())
        assert set(line) >= {"arm", "databricks", "caBundle", "token"}
        response = requests.get(f"{line['arm']}/subscriptions/{line['subscriptionId']}/resourceGroups/rg/providers/"
                                "Microsoft.Network/virtualNetworks/v?api-version=2026-03-01", verify=line["caBundle"],
                                headers={"Authorization": f"Bearer {line['token']}"}, timeout=5)
        assert response.status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_lro_responses_carry_retry_after_and_pollers_honour_it(network_client, sandbox_cloud, rg: str) -> None:
    """Azure answers LROs with a Retry-After (about 10 s on Network); azure-core sleeps for it instead of its
    own polling interval (0.05 s for these clients)."""
    poller = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), polling=False)
    assert poller.polling_method()._initial_response.http_response.headers["Retry-After"] == "0"
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/virtualNetworks", 0.1)
    sandbox_cloud.admin.set_retry_after(1)
    sandbox_cloud.admin.clear_requests()
    started, started_wall = time.monotonic(), time.time()
    poller = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet("10.2.0.0/16"))
    assert poller.polling_method()._initial_response.http_response.headers["Retry-After"] == "1"
    assert poller.result().provisioning_state == "Succeeded"
    assert time.monotonic() - started >= 1.0
    # a poll or two a second apart, not twenty at the client's own 0.05 s interval
    polls = sandbox_cloud.admin.requests(method="GET", path_contains="/operations/")
    assert 1 <= len(polls) <= 2
    assert polls[0].time - started_wall >= 0.9


def test_retry_after_is_settable_over_https(sandbox_cloud: SandboxCloud, network_client, rg: str) -> None:
    url = f"{sandbox_cloud.arm_url}/_sandbox/admin/set_retry_after"
    response = requests.post(url, data=json.dumps({"seconds": 10}), verify=sandbox_cloud.ca_bundle, timeout=5,
                             headers={"Authorization": f"Bearer {sandbox_cloud.token}"})
    assert response.status_code == 200
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/virtualNetworks", 5)
    poller = network_client.virtual_networks.begin_create_or_update(rg, "vnet", _vnet(), polling=False)
    assert poller.polling_method()._initial_response.http_response.headers["Retry-After"] == "10"
    status = requests.get(poller.polling_method()._initial_response.http_response.headers["Azure-AsyncOperation"],
                          verify=sandbox_cloud.ca_bundle, timeout=5,
                          headers={"Authorization": f"Bearer {sandbox_cloud.token}"})
    assert status.json()["status"] == "InProgress" and status.headers["Retry-After"] == "10"


def test_admin_reset_returns_timings_and_faults_to_a_fresh_cloud_s(network_client, sandbox_cloud, rg: str) -> None:
    """What the per-test fixture relies on: after `admin.reset()` a slow LRO type, a pending fault and the
    request log are gone; the resources stay."""
    network_client.virtual_networks.begin_create_or_update(rg, "kept", _vnet()).result()
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/virtualNetworks", 30)
    sandbox_cloud.admin.inject_fault("/virtualNetworks/faulty", status=500, count=10, method="PUT")
    sandbox_cloud.admin.reset()

    assert sandbox_cloud.admin.requests() == []
    network_client.virtual_networks.begin_create_or_update(rg, "faulty", _vnet(), polling=False)
    time.sleep(0.2)  # well past the fresh default LRO time, far below the 30 s set before the reset
    assert network_client.virtual_networks.get(rg, "faulty").provisioning_state == "Succeeded"
    assert network_client.virtual_networks.get(rg, "kept").provisioning_state == "Succeeded"



def test_admin_resources_lists_one_resource_group_s_public_views(network_client, sandbox_cloud, rg: str) -> None:
    network_client.virtual_networks.begin_create_or_update(rg, "listed", _vnet()).result()
    sandbox_cloud.admin.set_lro_seconds("Microsoft.Network/virtualNetworks", 30)
    network_client.virtual_networks.begin_create_or_update(rg, "running", _vnet("10.2.0.0/16"), polling=False)

    listed = sandbox_cloud.admin.resources(f"/subscriptions/{sandbox_cloud.subscription_id}/resourceGroups/{rg}/")

    states = {doc["name"]: doc["properties"]["provisioningState"] for doc in listed}
    assert states == {"listed": "Succeeded", "running": "Updating"}
    assert listed == [sandbox_cloud.admin.resource(doc["id"]) for doc in listed]


def test_the_store_keeps_each_types_resources_aside() -> None:
    """`Arm.of_type` reads an index kept by the store, never a walk of every resource: it must follow
    every way a resource comes and goes (a new key, a replaced document, pop, del) and nothing else."""
    from transit_sandbox.arm.core import TypedStore

    store = TypedStore()
    pe = {"id": "/s/pe1", "type": "Microsoft.Network/privateEndpoints"}
    nic = {"id": "/s/nic1", "type": "Microsoft.Network/networkInterfaces"}
    store["/s/pe1"], store["/s/nic1"] = pe, nic
    assert store.of_type("microsoft.network/PRIVATEENDPOINTS") == [pe]
    replaced = {**pe, "properties": {}}
    store["/s/pe1"] = replaced  # the same key: still one entry, the new document
    assert store.of_type("Microsoft.Network/privateEndpoints") == [replaced]
    assert store.pop("/s/pe1") is replaced and store.pop("/s/pe1", None) is None
    assert store.of_type("Microsoft.Network/privateEndpoints") == []
    del store["/s/nic1"]
    assert store.of_type("Microsoft.Network/networkInterfaces") == [] and not store
    with pytest.raises(NotImplementedError):
        store.update({"/s/x": nic})

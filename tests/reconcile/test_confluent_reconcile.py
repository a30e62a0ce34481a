"""ConfluentPrivateLink reconciler against the sandbox cloud, through the real Azure SDK clients."""

from __future__ import annotations

import time

import pytest

from transit_operator.cloud.context import CloudContext
from transit_operator.cloud.errors import SLOW

from .conftest import ALIASES, DOMAIN, Env, condition, converge, run_pass

pytestmark = pytest.mark.slow


def records(env: Env, ctx: CloudContext) -> dict[str, list[str]]:
    """`name TYPE` -> values, of the zone's record sets (SOA left out)."""
    out: dict[str, list[str]] = {}
    for record in ctx.privatedns(env.sub).record_sets.list(env.rg, DOMAIN):
        body = record.as_dict()
        kind = body["type"].rsplit("/", 1)[-1]
        props = body.get("properties") or {}
        if kind == "A":
            out[f"{body['name']} A"] = sorted(a["ipv4Address"] for a in props.get("aRecords") or [])
        elif kind == "CNAME":
            out[f"{body['name']} CNAME"] = [props["cnameRecord"]["cname"]]
    return out


@pytest.mark.parametrize("zones", [pytest.param(1, id="1-zone"), pytest.param(3, id="3-zone")])
def test_network_reaches_ready_with_endpoints_ips_and_dns(env: Env, ctx: CloudContext, zones: int) -> None:
    body = env.body(zones=zones)
    converge(body, ctx)
    status = body["status"]
    assert condition(body, "Ready")["status"] == "True"
    assert condition(body, "EndpointsApproved")["status"] == "True"
    assert condition(body, "DnsReady")["status"] == "True"
    assert status["observedGeneration"] == 1
    assert [z["name"] for z in status["zones"]] == ["az1", "az2", "az3"][:zones]
    assert all(z["connectionState"] == "Approved" and z["privateIp"].startswith("10.0.1.") for z in status["zones"])
    ips = {z["name"]: z["privateIp"] for z in status["zones"]}
    published = records(env, ctx)
    assert published["* A"] == sorted(ips.values())
    for zone, ip in ips.items():
        assert published[f"*.{zone} A"] == [ip]
    assert status["dnsZoneId"].endswith(f"/privateDnsZones/{DOMAIN}")


def test_second_pass_of_an_in_sync_object_writes_nothing(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    converge(body, ctx)
    env.cloud.admin.clear_requests()
    outcome = run_pass(body, ctx)
    assert outcome.requeue_after is None and condition(body, "Ready")["status"] == "True"
    assert env.writes() == []
    reads = env.requests()
    assert all(r.method == "GET" for r in reads)
    # 3 endpoints + 3 NICs + one Private DNS read: the zone, the links list or the record sets list, in turn
    assert len(reads) == 7
    assert len(dns_reads(env)) == 1
    assert outcome.events == []


def dns_reads(env: Env) -> list[str]:
    """What each Private DNS read of the log was: `zone`, `virtualNetworkLinks` or `recordSets`."""
    out = []
    for r in env.requests():
        if r.method == "GET" and "/privatednszones/" in r.path.lower():
            tail = r.path.rstrip("/").rsplit("/", 1)[-1].lower()  # record_sets.list: `{zone}/ALL`
            out.append({"virtualnetworklinks": "virtualNetworkLinks", "all": "recordSets"}.get(tail, "zone"))
    return out


def test_steady_drift_checks_read_the_zone_links_and_records_in_turn(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    converge(body, ctx)
    seen = []
    for _ in range(3):
        env.cloud.admin.clear_requests()
        run_pass(body, ctx)
        seen += dns_reads(env)
    assert sorted(seen) == ["recordSets", "virtualNetworkLinks", "zone"]


@pytest.mark.parametrize("what", ["record", "link", "zone"])
def test_out_of_band_dns_deletions_are_repaired_within_three_drift_checks(
    env: Env, ctx: CloudContext, what: str
) -> None:
    """The drift check reads one part of the DNS per pass; whatever is deleted is seen within three passes,
    after which a full pass puts it back."""
    body = env.body(zones=3)
    converge(body, ctx)
    zone_id = body["status"]["dnsZoneId"]
    victim = {
        "record": f"{zone_id}/A/*.az2",
        "link": next(lk.id for lk in ctx.privatedns(env.sub).virtual_network_links.list(env.rg, DOMAIN)),
        "zone": zone_id,
    }[what]
    assert env.cloud.admin.delete_resource(victim)
    assert env.resource(victim) is None
    for _ in range(3):  # drift checks: each reads one part of the DNS
        run_pass(body, ctx)
        if env.resource(victim) is not None or condition(body, "DnsReady")["status"] != "True":
            break  # repaired at once (a record, a link), or seen (the zone: the pass comes back at once)
    else:
        raise AssertionError(f"the deleted {what} was not noticed in three drift checks")
    converge(body, ctx)
    assert condition(body, "Ready")["status"] == "True"
    assert env.resource(victim) is not None
    published = records(env, ctx)
    assert published["*.az2 A"] and published["* A"]


def test_out_of_band_ip_change_is_repaired_in_status_and_dns(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    converge(body, ctx)
    az2 = next(z for z in body["status"]["zones"] if z["name"] == "az2")
    env.cloud.admin.set_private_endpoint_ip(az2["privateEndpointId"], "10.0.1.200")
    env.cloud.admin.clear_requests()
    outcome = run_pass(body, ctx)
    assert next(z for z in body["status"]["zones"] if z["name"] == "az2")["privateIp"] == "10.0.1.200"
    assert records(env, ctx)["*.az2 A"] == ["10.0.1.200"]
    assert "10.0.1.200" in records(env, ctx)["* A"]
    assert [(w.method, w.path.rsplit("/", 2)[-2:]) for w in env.writes()] == [
        ("PUT", ["A", "*.az2"]),
        ("PUT", ["A", "*"]),
    ]
    assert any(e.reason == "EndpointIpChanged" and "10.0.1.200" in e.message for e in outcome.events)
    assert condition(body, "Ready")["status"] == "True"


def test_rejected_connection_is_a_clear_stalled_status_and_its_zone_leaves_dns(env: Env, ctx: CloudContext) -> None:
    env.cloud.admin.set_alias_behaviour(ALIASES["az2"], "reject")
    body = env.body(zones=3)
    outcomes = converge(body, ctx)
    assert outcomes[-1].requeue_after is None  # not a retry loop
    stalled = condition(body, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "ConnectionRejected"
    assert "zone az2" in stalled["message"] and "Rejected" in stalled["message"]
    assert condition(body, "Ready")["status"] == "False"
    assert condition(body, "EndpointsApproved")["reason"] == "ConnectionRejected"
    az2 = next(z for z in body["status"]["zones"] if z["name"] == "az2")
    assert az2["connectionState"] == "Rejected" and az2.get("privateIp") is None
    published = records(env, ctx)
    assert "*.az2 A" not in published
    assert len(published["* A"]) == 2  # only the healthy zones
    env.cloud.admin.clear_requests()
    run_pass(body, ctx)
    assert env.writes() == []


def test_a_zone_rejected_before_the_others_are_decided_keeps_the_pass_coming_back(
    env: Env, ctx: CloudContext
) -> None:
    # Confluent decides zone by zone: here az2 is rejected while az1 and az3 are still Pending. The
    # Stalled status must not stop the requeue, or the approved zones reach DNS only at the drift check.
    env.cloud.admin.set_confluent_approval_seconds(3600)
    body = env.body(zones=3)
    for _ in range(40):
        run_pass(body, ctx)
        if condition(body, "Ready")["reason"] == "WaitingForApproval":  # nothing else in flight
            break
        time.sleep(0.05)
    decide = {
        z["name"]: env.cloud.admin.connections(endpoint_id=z["privateEndpointId"])[0] for z in body["status"]["zones"]
    }
    env.cloud.admin.set_connection_state(decide["az2"]["target"], decide["az2"]["name"], "Rejected", "no")
    outcome = run_pass(body, ctx)
    assert condition(body, "Stalled")["reason"] == "ConnectionRejected"
    assert outcome.requeue_after is not None and outcome.requeue_after <= 10  # az1, az3 still Pending
    for zone in ("az1", "az3"):
        env.cloud.admin.set_connection_state(decide[zone]["target"], decide[zone]["name"], "Approved", "ok")
    outcomes = converge(body, ctx)
    assert outcomes[-1].requeue_after is None  # only the rejected zone is left: nothing to look at soon
    assert condition(body, "Stalled")["reason"] == "ConnectionRejected"
    assert len(records(env, ctx)["* A"]) == 2


def test_connection_rejected_after_approval_removes_its_zone_from_dns(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    converge(body, ctx)
    az3 = next(z for z in body["status"]["zones"] if z["name"] == "az3")
    connection = env.cloud.admin.connections(endpoint_id=az3["privateEndpointId"])[0]
    env.cloud.admin.set_connection_state(connection["target"], connection["name"], "Rejected", "not allowed")
    outcome = run_pass(body, ctx)
    assert condition(body, "Stalled")["reason"] == "ConnectionRejected"
    assert "not allowed" in condition(body, "Stalled")["message"]
    assert "*.az3 A" not in records(env, ctx)
    assert any(e.type == "Warning" and e.reason == "ConnectionRejected" for e in outcome.events)


def test_pending_connection_is_reconciling_with_a_short_requeue(env: Env, ctx: CloudContext) -> None:
    env.cloud.admin.set_confluent_approval_seconds(3600)
    body = env.body(zones=1)
    outcome = None
    for _ in range(10):
        outcome = run_pass(body, ctx)
        if condition(body, "Ready")["reason"] == "WaitingForApproval":
            break
    assert outcome is not None and outcome.requeue_after is not None and outcome.requeue_after <= 10
    assert condition(body, "Reconciling")["status"] == "True"
    assert body["status"]["zones"][0]["connectionState"] == "Pending"
    assert condition(body, "DnsReady")["status"] == "False"


def test_out_of_band_deleted_endpoint_is_recreated(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx)
    env.cloud.admin.delete_resource(body["status"]["zones"][0]["privateEndpointId"])
    converge(body, ctx)
    assert condition(body, "Ready")["status"] == "True"
    assert env.resource(body["status"]["zones"][0]["privateEndpointId"]) is not None


def test_invalid_spec_is_stalled_with_the_field_path(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    body["spec"]["confluent"]["dnsDomain"] = "n-abc123.confluent.internal"
    outcome = run_pass(body, ctx)
    stalled = condition(body, "Stalled")
    assert stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith("spec.confluent.dnsDomain")
    assert outcome.requeue_after is None
    assert env.requests() == []


def test_unknown_alias_is_stalled_with_azures_code(env: Env, ctx: CloudContext) -> None:
    env.cloud.admin.set_alias_behaviour(ALIASES["az1"], "unknown")
    body = env.body(zones=1)
    outcome = run_pass(body, ctx)
    stalled = condition(body, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "CloudError"
    assert "ThirdPartyPrivateLinkServiceProvidedDuringPrivateEndpointCreationDoesNotExistOrIsNotVisible" in stalled["message"]
    assert any(e.type == "Warning" for e in outcome.events)


def test_a_missing_subnet_is_waited_for_slowly_without_any_write(env: Env, ctx: CloudContext) -> None:
    # The customer may create the subnet after the CR: nothing is written meanwhile, never Stalled for it.
    body = env.body(zones=1)
    body["spec"]["privateEndpoints"]["subnetId"] = f"{env.vnet_id}/subnets/nope"
    outcome = run_pass(body, ctx)
    ready = condition(body, "Ready")
    assert ready["reason"] == "WaitingForDependency" and "spec.privateEndpoints.subnetId" in ready["message"]
    assert condition(body, "Stalled")["status"] == "False"
    assert outcome.requeue_after == SLOW and outcome.failure is not None and outcome.failure.stall_after is None
    assert env.writes() == []


def test_throttling_is_a_transient_error_with_the_servers_delay(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx)
    # more 429s than azure-core's retry_total (3): the reconciler sees it and requeues
    env.cloud.admin.inject_fault("/privateEndpoints/", status=429, count=10, method="GET", retry_after=0.01)
    outcome = run_pass(body, ctx)
    ready = condition(body, "Ready")
    assert ready["reason"] == "TransientError" and "TooManyRequests" in ready["message"]
    assert outcome.requeue_after is not None
    env.cloud.admin.clear_faults()
    converge(body, ctx)
    assert condition(body, "Ready")["status"] == "True"


def test_cname_mode_publishes_per_zone_a_records_and_cnames(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    body["spec"]["dns"]["recordType"] = "CNAME"
    converge(body, ctx)
    published = records(env, ctx)
    assert published["*.az1 CNAME"] == [f"endpoint-az1.{DOMAIN}"]
    assert published["* CNAME"] == [f"endpoint-az1.{DOMAIN}"]
    assert len(published["endpoint-az2 A"]) == 1
    assert "* A" not in published


def test_switching_record_type_replaces_the_records(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx)
    body["spec"]["dns"]["recordType"] = "CNAME"
    body["metadata"]["generation"] = 2
    converge(body, ctx)
    published = records(env, ctx)
    assert set(published) == {"endpoint-az1 A", "*.az1 CNAME", "* CNAME"}
    assert condition(body, "Ready")["observedGeneration"] == 2


@pytest.mark.parametrize("code", ["AuthorizationFailed", "LinkedAuthorizationFailed", "ResourceGroupNotFound",
                                  "InvalidResourceReference"])
def test_an_error_that_resolves_by_itself_is_retried_slowly_never_stalled(env: Env, ctx: CloudContext, code: str) -> None:
    # A role assignment or a resource group appears minutes after the CR: say so and look again later.
    body = env.body(zones=1)
    env.cloud.admin.inject_fault("/privateEndpoints/", status=403, count=10, method="PUT", code=code,
                                 message=f"{code} injected")
    outcome = run_pass(body, ctx)
    ready = condition(body, "Ready")
    assert ready["reason"] == "WaitingForPropagation" and code in ready["message"]
    assert condition(body, "Reconciling")["status"] == "True" and condition(body, "Stalled")["status"] == "False"
    assert outcome.requeue_after == SLOW
    assert outcome.failure is not None and outcome.failure.stall_after is None
    assert any(e.type == "Warning" and code in e.message for e in outcome.events)

"""Adoption, ownership, deletion (both policies) and restarts, against the sandbox cloud."""

from __future__ import annotations

from typing import Any

import pytest

from transit_operator.cloud.context import CloudContext
from transit_operator.plan import naming
from transit_operator.plan.ownership import MANAGED_BY_TAG, OWNER_TAG, UID_TAG
from transit_operator.reconcile.confluent.dns import _turns as dns_turns

from .conftest import ALIASES, DOMAIN, Env, condition, converge, finalize_until_done, run_pass

pytestmark = pytest.mark.slow

OUR_TAGS = {MANAGED_BY_TAG, OWNER_TAG, UID_TAG}


def all_resources(env: Env) -> dict[str, dict[str, Any]]:
    """Every stored resource of the test's resource group (lower-cased id -> public view)."""
    prefix = f"/subscriptions/{env.sub}/resourceGroups/{env.rg}/"
    return {doc["id"].lower(): doc for doc in env.cloud.admin.resources(prefix)}


def pe_name(zone: str) -> str:
    return naming.build_private_endpoint_name("team-a", "confluent", zone)


def test_existing_untagged_endpoints_are_adopted_not_duplicated(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    network = ctx.network(env.sub)
    for zone in ("az1", "az2"):
        network.private_endpoints.begin_create_or_update(env.rg, pe_name(zone), {
            "location": "westeurope",
            "tags": {"team": "data"},
            "properties": {
                "subnet": {"id": f"{env.vnet_id}/subnets/pe"},
                "customNetworkInterfaceName": f"{pe_name(zone)}-nic",
                "manualPrivateLinkServiceConnections": [{"name": f"confluent-{zone}", "properties": {
                    "privateLinkServiceId": ALIASES[zone], "requestMessage": "transit-operator"}}],
            },
        }).result()
    env.cloud.admin.clear_requests()
    outcomes = converge(body, ctx)
    assert condition(body, "Ready")["status"] == "True"
    endpoints = [r for r in network.private_endpoints.list(env.rg)]
    assert sorted(e.name for e in endpoints) == sorted(pe_name(z) for z in ("az1", "az2", "az3"))
    adopted = [e for o in outcomes for e in o.events if e.reason == "Adopted"]
    assert len([e for e in adopted if "private endpoint" in e.message]) == 2
    for zone in ("az1", "az2"):
        tags = network.private_endpoints.get(env.rg, pe_name(zone)).tags
        assert tags["team"] == "data"  # others' tags survive adoption
        assert tags[OWNER_TAG] == "ConfluentPrivateLink/team-a/confluent"
    pe_puts = [w for w in env.writes() if w.method == "PUT" and "/privateendpoints/" in w.path.lower()]
    assert len(pe_puts) == 3  # one adoption each + one create


def test_endpoint_tagged_for_another_owner_is_never_touched(env: Env, ctx: CloudContext) -> None:
    network = ctx.network(env.sub)
    foreign = {MANAGED_BY_TAG: "transit-operator", OWNER_TAG: "ConfluentPrivateLink/other/thing", UID_TAG: "x"}
    network.private_endpoints.begin_create_or_update(env.rg, pe_name("az1"), {
        "location": "westeurope",
        "tags": foreign,
        "properties": {
            "subnet": {"id": f"{env.vnet_id}/subnets/pe"},
            "manualPrivateLinkServiceConnections": [{"name": "c", "properties": {"privateLinkServiceId": ALIASES["az1"]}}],
        },
    }).result()
    env.cloud.admin.clear_requests()
    body = env.body(zones=1)
    outcomes = converge(body, ctx)  # the DNS zone is still created; then no requeue
    stalled = condition(body, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "OwnershipConflict"
    assert "ConfluentPrivateLink/other/thing" in stalled["message"]
    assert not [w for w in env.writes() if "/privateendpoints/" in w.path.lower()]
    assert outcomes[-1].requeue_after is None
    assert sum(e.type == "Warning" and e.reason == "OwnershipConflict" for o in outcomes for e in o.events) == 1
    # finalize (Delete) leaves it too
    finalize_until_done(body, ctx)
    assert network.private_endpoints.get(env.rg, pe_name("az1")).tags == foreign


@pytest.mark.parametrize("zones", [pytest.param(1, id="1-zone"), pytest.param(3, id="3-zone")])
def test_delete_policy_removes_everything_it_made_and_nothing_else(env: Env, ctx: CloudContext, zones: int) -> None:
    before = set(all_resources(env))  # the VNet and its subnet
    body = env.body(zones=zones)
    converge(body, ctx)
    assert len(all_resources(env)) > len(before)
    run_pass(body, ctx)  # a steady drift check: it reads one part of the DNS, and keeps its turn
    uid = body["metadata"]["uid"]
    assert uid in dns_turns
    outcomes = finalize_until_done(body, ctx)
    assert set(all_resources(env)) == before
    assert outcomes[-1].done
    assert uid not in dns_turns  # nothing of a deleted object stays in the process
    assert env.cloud.admin.connections(target_id=ALIASES["az1"]) == [] or all(
        "/resourcegroups/" + env.rg.lower() not in c["endpointId"].lower()
        for c in env.cloud.admin.connections(target_id=ALIASES["az1"])
    )
    # order: record sets before links before the zone before endpoints
    deletes = [w.path.lower() for w in env.writes() if w.method == "DELETE"]
    kinds = ["record" if "/a/" in p or "/cname/" in p else "link" if "/virtualnetworklinks/" in p
             else "zone" if "/privatednszones/" in p else "endpoint" for p in deletes]
    assert kinds == sorted(kinds, key=["record", "link", "zone", "endpoint"].index)


def test_delete_policy_removes_an_adopted_zone_with_its_content(env: Env, ctx: CloudContext) -> None:
    dns = ctx.privatedns(env.sub)
    dns.private_zones.begin_create_or_update(env.rg, DOMAIN, {"location": "global"}).result()
    body = env.body(zones=1)
    converge(body, ctx)
    dns.record_sets.create_or_update(env.rg, DOMAIN, "A", "mine", {"properties": {"ttl": 5, "aRecords": [{"ipv4Address": "10.9.9.9"}]}})
    # the zone was adopted (untagged before), so it is ours and Delete removes it with everything in it;
    # records someone else added are the zone's content: documented behaviour of zone deletion.
    finalize_until_done(body, ctx)
    assert env.resource(body["status"]["dnsZoneId"]) is None


def test_orphan_policy_removes_only_our_tags(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3, deletionPolicy="Orphan")
    converge(body, ctx)
    made = {i: r for i, r in all_resources(env).items() if r and "virtualnetworks" not in i}
    env.cloud.admin.clear_requests()
    outcomes = finalize_until_done(body, ctx)
    assert outcomes[-1].done
    after = all_resources(env)
    assert set(made) <= set(after)  # nothing removed
    assert not [w for w in env.writes() if w.method == "DELETE"]
    for resource_id, resource in after.items():
        if "virtualnetworks/" in resource_id and "/privatednszones/" not in resource_id:
            continue
        tags = resource.get("tags") or (resource.get("properties") or {}).get("metadata") or {}
        assert not OUR_TAGS & {k.lower() for k in tags}, resource_id
    # the rest of each body is unchanged
    for resource_id, resource in made.items():
        before_props = {k: v for k, v in (resource.get("properties") or {}).items() if k != "metadata"}
        after_props = {k: v for k, v in (after[resource_id].get("properties") or {}).items() if k != "metadata"}
        assert before_props.keys() <= after_props.keys(), resource_id
    # a second finalize is a no-op
    env.cloud.admin.clear_requests()
    finalize_until_done(body, ctx)
    assert env.writes() == []


def test_restart_with_lost_status_picks_up_without_duplicates(env: Env, ctx: CloudContext) -> None:
    env.cloud.admin.set_lro_seconds(None, 0.5)
    body = env.body(zones=3)
    first = run_pass(body, ctx)
    assert first.requeue_after is not None  # creations in flight
    restarted = env.body(zones=3)  # a new operator process: no status, fresh context
    fresh = CloudContext.for_sandbox(env.cloud.arm_url, env.cloud.ca_bundle, env.cloud.token, polling_interval=0.05)
    converge(restarted, fresh)
    assert condition(restarted, "Ready")["status"] == "True"
    assert len(list(fresh.network(env.sub).private_endpoints.list(env.rg))) == 3
    pe_creates = [w for w in env.writes() if w.method == "PUT" and "/privateendpoints/" in w.path.lower()]
    assert len(pe_creates) == 3


def test_zone_removed_from_spec_has_its_endpoint_deleted(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=3)
    converge(body, ctx)
    gone = {z["name"]: z["privateEndpointId"] for z in body["status"]["zones"]}
    body["spec"]["confluent"]["zones"] = body["spec"]["confluent"]["zones"][:1]
    body["metadata"]["generation"] = 2
    converge(body, ctx)
    assert [z["name"] for z in body["status"]["zones"]] == ["az1"]
    assert env.resource(gone["az2"]) is None and env.resource(gone["az3"]) is None
    assert condition(body, "Ready")["status"] == "True"


def test_vnet_link_removed_from_spec_is_deleted(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx)
    body["spec"]["dns"]["virtualNetworkIds"] = []
    converge(body, ctx)
    links = list(ctx.privatedns(env.sub).virtual_network_links.list(env.rg, DOMAIN))
    assert links == []

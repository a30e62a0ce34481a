"""The private DNS zone of an earlier `dnsDomain`, or the zone once `dns.manageZone` turns false, is removed
with our records and VNet links - only when tagged as ours; a zone someone else owns keeps everything but
our records and links."""

from __future__ import annotations

import pytest

from transit_operator.cloud.context import CloudContext

from .conftest import DOMAIN, Env, condition, converge, finalize_until_done

pytestmark = pytest.mark.slow
NEW_DOMAIN = "n-new456.westeurope.azure.confluent.cloud"


def zone_id(env: Env, domain: str) -> str:
    return f"/subscriptions/{env.sub}/resourceGroups/{env.rg}/providers/Microsoft.Network/privateDnsZones/{domain}"


def children(env: Env, ctx: CloudContext, domain: str) -> tuple[list[str], list[str]]:
    dns = ctx.privatedns(env.sub)
    records = [r.name for r in dns.record_sets.list(env.rg, domain) if r.type.rsplit("/", 1)[-1] != "SOA"]
    links = [link.name for link in dns.virtual_network_links.list(env.rg, domain)]
    return records, links


def new_domain(body: dict) -> None:
    body["metadata"]["generation"] += 1
    body["spec"]["confluent"]["dnsDomain"] = NEW_DOMAIN
    body["spec"]["confluent"]["bootstrapServer"] = f"lkc-abc12.{NEW_DOMAIN}:9092"


def test_a_changed_dns_domain_removes_the_old_zone_with_its_records_and_links(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx, until="ready")
    assert env.resource(zone_id(env, DOMAIN)) is not None and all(children(env, ctx, DOMAIN))
    new_domain(body)
    converge(body, ctx, until="ready")
    converge(body, ctx)
    assert env.resource(zone_id(env, DOMAIN)) is None
    assert env.resource(zone_id(env, NEW_DOMAIN)) is not None and all(children(env, ctx, NEW_DOMAIN))
    assert body["status"]["dnsZoneId"] == zone_id(env, NEW_DOMAIN)
    assert body["status"]["retiringDnsZoneIds"] == []


def test_turning_manage_zone_off_removes_our_zone(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx, until="ready")
    body["metadata"]["generation"] += 1
    body["spec"]["dns"] = {"manageZone": False}
    converge(body, ctx, until="ready")
    converge(body, ctx)
    assert env.resource(zone_id(env, DOMAIN)) is None
    assert body["status"].get("dnsZoneId") is None and condition(body, "DnsReady")["reason"] == "NotManaged"


def test_a_zone_someone_else_owns_loses_only_our_records_and_links(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx, until="ready")
    # The customer takes the zone over: our ownership tags replaced by theirs.
    dns = ctx.privatedns(env.sub)
    dns.private_zones.begin_create_or_update(env.rg, DOMAIN, {"location": "global", "tags": {"owner": "network-team"}}).result()
    dns.record_sets.create_or_update(env.rg, DOMAIN, "A", "theirs", {"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.0.9.9"}]}})
    new_domain(body)
    converge(body, ctx, until="ready")
    converge(body, ctx)
    assert env.resource(zone_id(env, DOMAIN)) is not None
    records, links = children(env, ctx, DOMAIN)
    assert records == ["theirs"] and links == []
    assert body["status"]["retiringDnsZoneIds"] == []


def test_finalize_removes_a_zone_still_retiring(env: Env, ctx: CloudContext) -> None:
    body = env.body(zones=1)
    converge(body, ctx, until="ready")
    body["status"]["retiringDnsZoneIds"] = [zone_id(env, DOMAIN)]
    new_domain(body)
    body["status"]["dnsZoneId"] = zone_id(env, NEW_DOMAIN)
    finalize_until_done(body, ctx)
    assert env.resource(zone_id(env, DOMAIN)) is None

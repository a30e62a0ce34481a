"""ConfluentPrivateLink builders: private endpoints, private DNS zone, links, records (plan.confluent)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from transit_operator.api.v1alpha1 import ConfluentPrivateLink
from transit_operator.plan import ids
from transit_operator.plan.confluent import build_confluent_plan, build_dns_records, healthy_endpoint_ips
from transit_operator.plan.model import Plan
from transit_operator.plan.naming import name_hash
from transit_operator.plan.ownership import OWNER_TAG, UID_TAG, Owner

SUB = "11111111-2222-3333-4444-555555555555"
NET = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub"
DOMAIN = "n-abc123.eastus2.azure.confluent.cloud"
ALIAS = "s-zone{n}.0a0a0a0a-1111-4111-8111-00000000000{n}.eastus2.azure.privatelinkservice"


def cpl_doc(zones: int = 3, **spec_overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "transit.privatelink.io/v1alpha1",
        "kind": "ConfluentPrivateLink",
        "metadata": {"name": "confluent", "namespace": "data"},
        "spec": {
            "azure": {"subscriptionId": SUB, "resourceGroup": "rg-c", "location": "eastus2"},
            "confluent": {
                "networkId": "n-abc123",
                "dnsDomain": DOMAIN,
                "bootstrapServer": f"lkc-1.{DOMAIN}:9092",
                "zones": [
                    {"name": f"az{n}", "privateLinkServiceAlias": ALIAS.format(n=n)}
                    for n in range(1, zones + 1)
                ],
            },
            "privateEndpoints": {"subnetId": f"{NET}/subnets/pe"},
            "dns": {"virtualNetworkIds": [NET]},
        },
    }
    doc["spec"].update(spec_overrides)
    return doc


def with_status(doc: dict[str, Any], *zones: tuple[str, str | None, str | None]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["status"] = {"zones": [{"name": z, "privateIp": ip, "connectionState": st} for z, ip, st in zones]}
    return doc


def plan_of(doc: dict[str, Any], uid: str | None = None) -> Plan:
    return build_confluent_plan(ConfluentPrivateLink.model_validate(doc), uid=uid)


def records(plan: Plan) -> dict[str, dict[str, Any]]:
    """relative name -> {type, body} for every record set in the plan."""
    out = {}
    for res in plan.azure:
        if res.type.startswith(ids.PRIVATE_DNS_ZONES + "/") and not res.type.endswith("virtualNetworkLinks"):
            out[res.name] = {"type": res.type.rsplit("/", 1)[-1], **res.body["properties"]}
    return out


ALL_APPROVED = (
    ("az1", "10.0.0.4", "Approved"),
    ("az2", "10.0.0.5", "Approved"),
    ("az3", "10.0.0.6", "Approved"),
)


@pytest.mark.parametrize("zones", [pytest.param(1, id="single-zone"), pytest.param(3, id="three-zones")])
def test_one_private_endpoint_per_zone_with_a_manual_connection_to_its_alias(zones):
    plan = plan_of(cpl_doc(zones))
    endpoints = plan.resources_of_type(ids.PRIVATE_ENDPOINTS)
    h = name_hash("data", "confluent")
    assert [pe.name for pe in endpoints] == [f"pe-confluent-{h}-az{n}" for n in range(1, zones + 1)]
    for n, pe in enumerate(endpoints, start=1):
        assert pe.apiVersion == "2026-03-01"
        assert (
            pe.id
            == f"/subscriptions/{SUB}/resourceGroups/rg-c/providers/Microsoft.Network/privateEndpoints/{pe.name}"
        )
        body = pe.body
        assert body["location"] == "eastus2"
        assert body["properties"]["subnet"] == {"id": f"{NET}/subnets/pe"}
        assert "privateLinkServiceConnections" not in body["properties"]  # manual: Confluent approves
        (conn,) = body["properties"]["manualPrivateLinkServiceConnections"]
        assert conn == {
            "name": f"confluent-az{n}",
            "properties": {"privateLinkServiceId": ALIAS.format(n=n), "requestMessage": "transit-operator"},
        }
        assert body["properties"]["customNetworkInterfaceName"] == f"{pe.name}-nic"


def test_every_object_carries_the_ownership_tags_records_in_metadata():
    plan = plan_of(with_status(cpl_doc(), *ALL_APPROVED), uid="uid-9")
    for res in plan.azure:
        tags = (
            res.body["properties"]["metadata"]
            if "/A" in res.type or "/CNAME" in res.type
            else res.body["tags"]
        )
        assert tags[OWNER_TAG] == "ConfluentPrivateLink/data/confluent"
        assert tags[UID_TAG] == "uid-9"


def test_dns_zone_is_global_and_named_after_the_confluent_domain():
    (zone,) = plan_of(cpl_doc()).resources_of_type(ids.PRIVATE_DNS_ZONES)
    assert zone.name == DOMAIN and zone.apiVersion == "2024-06-01"
    assert zone.body["location"] == "global"


def test_vnet_links_do_not_auto_register():
    (link,) = plan_of(cpl_doc()).resources_of_type(ids.VIRTUAL_NETWORK_LINKS)
    assert link.body["properties"] == {"virtualNetwork": {"id": NET}, "registrationEnabled": False}
    assert link.body["location"] == "global"
    assert link.dependsOn == [ids.resource_id(SUB, "rg-c", ids.PRIVATE_DNS_ZONES, DOMAIN)]


def test_dependencies_come_before_their_dependents():
    plan = plan_of(with_status(cpl_doc(), *ALL_APPROVED))
    seen: set[str] = set()
    for res in plan.azure:
        assert set(res.dependsOn) <= seen, res.id
        seen.add(res.id)


@pytest.mark.parametrize(
    ("status", "expected", "waiting_zones"),
    [
        pytest.param(
            ALL_APPROVED,
            {
                "*": ["10.0.0.4", "10.0.0.5", "10.0.0.6"],
                "*.az1": ["10.0.0.4"],
                "*.az2": ["10.0.0.5"],
                "*.az3": ["10.0.0.6"],
            },
            [],
            id="all-approved",
        ),
        pytest.param(
            (("az1", "10.0.0.4", "Approved"), ("az2", "10.0.0.5", "Pending"), ("az3", None, "Approved")),
            {"*": ["10.0.0.4"], "*.az1": ["10.0.0.4"]},
            ["az2", "az3"],
            id="partial-approval",
        ),
        pytest.param(
            (("az1", "10.0.0.4", "Rejected"),),
            {},
            ["az1", "az2", "az3"],
            id="rejected-gives-no-records",
        ),
        pytest.param((), {}, ["az1", "az2", "az3"], id="no-status"),
    ],
)
def test_a_records_hold_only_approved_endpoint_ips(status, expected, waiting_zones):
    plan = plan_of(with_status(cpl_doc(), *status))
    got = {name: [a["ipv4Address"] for a in r["aRecords"]] for name, r in records(plan).items()}
    assert got == expected
    assert all(r["ttl"] == 60 for r in records(plan).values())
    assert [w.split()[4] for w in plan.waiting] == waiting_zones
    # Every ARM body is rendered whatever the status.
    assert len(plan.resources_of_type(ids.PRIVATE_ENDPOINTS)) == 3


def test_record_depends_on_the_endpoint_whose_ip_it_holds():
    plan = plan_of(with_status(cpl_doc(), *ALL_APPROVED))
    rec = plan.resource(
        ids.child_id(ids.resource_id(SUB, "rg-c", ids.PRIVATE_DNS_ZONES, DOMAIN), "A", "*.az2")
    )
    assert rec.dependsOn[1].endswith("-az2")


def test_cname_mode_points_names_at_per_zone_a_records():
    doc = cpl_doc(dns={"recordType": "CNAME", "ttl": 30, "virtualNetworkIds": [NET]})
    got = records(plan_of(with_status(doc, ("az1", "10.0.0.4", "Pending"), *ALL_APPROVED[1:])))
    assert got["endpoint-az2"]["aRecords"] == [{"ipv4Address": "10.0.0.5"}]
    assert got["endpoint-az3"]["aRecords"] == [{"ipv4Address": "10.0.0.6"}]
    assert got["*.az2"]["type"] == "CNAME" and got["*.az2"]["cnameRecord"] == {
        "cname": f"endpoint-az2.{DOMAIN}"
    }
    assert got["*"]["cnameRecord"] == {"cname": f"endpoint-az2.{DOMAIN}"}  # first healthy zone
    assert "endpoint-az1" not in got and "*.az1" not in got
    assert {r["ttl"] for r in got.values()} == {30}


def test_bootstrap_gets_its_own_record_when_the_wildcard_would_not_answer_it():
    doc = cpl_doc()
    doc["spec"]["confluent"]["bootstrapServer"] = f"lkc-1.glb.{DOMAIN}:9092"
    got = records(plan_of(with_status(doc, *ALL_APPROVED)))
    assert [a["ipv4Address"] for a in got["lkc-1.glb"]["aRecords"]] == ["10.0.0.4", "10.0.0.5", "10.0.0.6"]


def test_bootstrap_one_label_below_the_domain_is_covered_by_the_wildcard():
    assert "lkc-1" not in records(plan_of(with_status(cpl_doc(), *ALL_APPROVED)))


def test_unmanaged_dns_plans_only_the_endpoints():
    plan = plan_of(with_status(cpl_doc(dns={"manageZone": False}), *ALL_APPROVED))
    assert {r.type for r in plan.azure} == {ids.PRIVATE_ENDPOINTS}
    assert plan.waiting == []


def test_build_dns_records_ignores_zones_not_in_the_spec_and_empty_ips():
    spec = ConfluentPrivateLink.model_validate(cpl_doc(1)).spec
    owner = Owner("ConfluentPrivateLink", "data", "confluent", None)
    got = build_dns_records(spec, {"az1": "10.0.0.4", "az2": "10.0.0.5", "az3": ""}, owner=owner)
    assert sorted(r.name for r in got) == ["*", "*.az1"]
    assert build_dns_records(spec, {}, owner=owner) == []


def test_healthy_endpoint_ips_match_approved_case_insensitively():
    cpl = ConfluentPrivateLink.model_validate(
        with_status(cpl_doc(), ("az1", "10.0.0.4", "approved"), ("az2", "10.0.0.5", None))
    )
    assert healthy_endpoint_ips(cpl.status) == {"az1": "10.0.0.4"}


def test_plan_is_deterministic():
    doc = with_status(cpl_doc(), *reversed(ALL_APPROVED))
    assert plan_of(doc).model_dump() == plan_of(copy.deepcopy(doc)).model_dump()


def test_metadata_name_is_required():
    doc = cpl_doc()
    del doc["metadata"]["name"]
    with pytest.raises(ValueError, match=r"metadata\.name"):
        plan_of(doc)


def test_namespace_defaults_to_default():
    doc = cpl_doc()
    del doc["metadata"]["namespace"]
    assert plan_of(doc).namespace == "default"

"""ARM ids, the naming scheme and the ownership tags (plan.ids, plan.naming, plan.ownership)."""

from __future__ import annotations

import re

import pytest

from transit_operator.plan import ids, naming
from transit_operator.plan.ownership import (
    MANAGED_BY_TAG,
    OWNER_TAG,
    UID_TAG,
    Owner,
    build_ownership_tags,
    owner_of,
)

SUB = "11111111-2222-3333-4444-555555555555"
# Azure: letters, digits, '-', '_', '.'; start with a letter or digit; end with a letter, digit or '_'.
AZURE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
# Azure refuses these characters in tag names (tag-resources.md, "Limitations").
FORBIDDEN_TAG_CHARS = set("<>%&\\?/")


def test_resource_id_round_trips_through_parse():
    lb = ids.resource_id(SUB, "rg", ids.LOAD_BALANCERS, "lb-x")
    pool = ids.child_id(lb, "backendAddressPools", "pool")
    parsed = ids.parse_resource_id(pool)
    assert (
        pool
        == f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb-x/backendAddressPools/pool"
    )
    assert (parsed.subscription_id, parsed.resource_group, parsed.name, parsed.leaf_name) == (
        SUB,
        "rg",
        "lb-x",
        "pool",
    )
    assert parsed.resource_type == "Microsoft.Network/loadBalancers/backendAddressPools"
    assert parsed.parent_id == lb
    assert ids.parse_resource_id(lb).parent_id is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("/subscriptions/x/resourceGroups/rg", id="no-provider"),
        pytest.param(
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers", id="no-name"
        ),
        pytest.param(
            f"/subscriptions/{SUB}/groups/rg/providers/Microsoft.Network/loadBalancers/x", id="bad-keyword"
        ),
        pytest.param(
            f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/x/probes",
            id="odd-child",
        ),
    ],
)
def test_parse_resource_id_refuses_what_is_not_an_arm_id(value):
    with pytest.raises(ValueError):
        ids.parse_resource_id(value)


@pytest.mark.parametrize(
    ("resource_type", "version"),
    [
        pytest.param(ids.PRIVATE_ENDPOINTS, "2026-03-01", id="network"),
        pytest.param(ids.VIRTUAL_MACHINE_SCALE_SETS, "2026-04-01", id="compute"),
        pytest.param(ids.PRIVATE_DNS_ZONES, "2024-06-01", id="private-dns-zone"),
        pytest.param(ids.record_set_type("A"), "2024-06-01", id="private-dns-record"),
        pytest.param(ids.VIRTUAL_NETWORK_LINKS, "2024-06-01", id="private-dns-link"),
    ],
)
def test_api_version_is_the_one_the_pinned_sdk_sends(resource_type, version):
    assert ids.api_version_for(resource_type) == version


def test_same_id_ignores_case_and_slashes():
    assert ids.same_id("/subscriptions/A/resourceGroups/RG/x", "subscriptions/a/resourcegroups/rg/X/")


@pytest.mark.parametrize(
    ("build", "limit"),
    [
        pytest.param(
            lambda ns, n: naming.build_private_endpoint_name(ns, n, "az3"), 64, id="private-endpoint"
        ),
        pytest.param(naming.build_load_balancer_name, 80, id="load-balancer"),
        pytest.param(naming.build_private_link_service_name, 80, id="private-link-service"),
        pytest.param(naming.build_nsg_name, 80, id="nsg"),
        pytest.param(naming.build_vmss_name, 64, id="vmss"),
        pytest.param(naming.build_computer_name_prefix, 15, id="computer-name-prefix"),
    ],
)
@pytest.mark.parametrize(
    "cr_name",
    [
        pytest.param("x", id="short"),
        pytest.param("my.transit.v2", id="dotted"),
        pytest.param("a" * 253, id="longest-k8s-name"),
        pytest.param("a-" * 40 + "b", id="hyphen-at-cut"),
    ],
)
def test_names_fit_azure_limits_and_charset(build, limit, cr_name):
    name = build("some-namespace", cr_name)
    assert len(name) <= limit
    assert AZURE_NAME.match(name), name
    assert "--" not in name


def test_names_are_deterministic_and_differ_across_namespaces():
    assert naming.build_load_balancer_name("a", "t") == naming.build_load_balancer_name("a", "t")
    assert naming.build_load_balancer_name("a", "t") != naming.build_load_balancer_name("b", "t")
    # Two long names that only differ after the cut stay distinct thanks to the hash.
    assert naming.build_vmss_name("ns", "x" * 100 + "1") != naming.build_vmss_name("ns", "x" * 100 + "2")


def test_private_endpoint_name_reads_prefix_name_hash_zone():
    assert re.fullmatch(
        r"pe-confluent-[0-9a-f]{6}-az2", naming.build_private_endpoint_name("ns", "confluent", "az2")
    )


def test_vnet_link_names_differ_for_same_vnet_name_in_other_resource_groups():
    a = naming.build_vnet_link_name(
        f"/subscriptions/{SUB}/resourceGroups/a/providers/Microsoft.Network/virtualNetworks/hub"
    )
    b = naming.build_vnet_link_name(
        f"/subscriptions/{SUB}/resourceGroups/b/providers/Microsoft.Network/virtualNetworks/hub"
    )
    assert a != b and a.startswith("link-hub-") and AZURE_NAME.match(a)


def test_ownership_tags_name_the_manager_owner_and_uid():
    tags = build_ownership_tags("ServerlessTransit", "ns", "t", "uid-1")
    assert tags == {MANAGED_BY_TAG: "transit-operator", OWNER_TAG: "ServerlessTransit/ns/t", UID_TAG: "uid-1"}


def test_ownership_tag_names_are_legal_azure_tag_names():
    for key in build_ownership_tags("ConfluentPrivateLink", "ns", "c", "u"):
        assert not FORBIDDEN_TAG_CHARS & set(key)
        assert re.fullmatch(r"[a-z][a-z0-9-]*", key)


def test_ownership_tags_leave_out_an_unknown_uid():
    assert UID_TAG not in build_ownership_tags("ConfluentPrivateLink", "ns", "c", None)


@pytest.mark.parametrize(
    ("tags", "owner"),
    [
        pytest.param(
            build_ownership_tags("ConfluentPrivateLink", "ns", "c", "u"),
            Owner("ConfluentPrivateLink", "ns", "c", "u"),
            id="own-tags",
        ),
        pytest.param(
            {"Managed-By": "transit-operator", "TRANSIT-OPERATOR-OWNER": "ServerlessTransit/ns/t"},
            Owner("ServerlessTransit", "ns", "t", None),
            id="keys-case-insensitive",
        ),
        pytest.param(None, None, id="no-tags"),
        pytest.param({"env": "prod"}, None, id="foreign-tags"),
        pytest.param(
            {MANAGED_BY_TAG: "terraform", OWNER_TAG: "ServerlessTransit/ns/t"}, None, id="other-manager"
        ),
        pytest.param({MANAGED_BY_TAG: "transit-operator", OWNER_TAG: "garbage"}, None, id="malformed-owner"),
    ],
)
def test_owner_of_reads_back_the_tags(tags, owner):
    assert owner_of(tags) == owner


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(Owner("K", "n", "x", "1"), Owner("K", "n", "x", "1"), True, id="same-uid"),
        pytest.param(Owner("K", "n", "x", "1"), Owner("K", "n", "x", "2"), False, id="recreated-object"),
        pytest.param(Owner("K", "n", "x", None), Owner("K", "n", "x", "2"), True, id="uid-unknown"),
        pytest.param(Owner("K", "n", "x", "1"), Owner("K", "m", "x", "1"), False, id="other-namespace"),
    ],
)
def test_owner_same_object(a, b, same):
    assert a.same_object(b) is same

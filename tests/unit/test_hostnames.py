"""Confluent's two hostname shapes (private `e-NNNN.azN.<domain>`, glb `e-NNNN-azN-<net>.<region>.azure.glb.
confluent.cloud`) through the API, the NCC domain names, the private DNS records and the SNI router."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError
from test_plan_confluent import ALL_APPROVED, DOMAIN, cpl_doc, records, with_status
from test_plan_haproxy_transit import sxt_doc

from transit_operator.api.hostnames import glb_domain, is_glb_of, private_name, zone_of
from transit_operator.api.v1alpha1 import ConfluentNetwork, ConfluentPrivateLink, ServerlessTransit
from transit_operator.plan.confluent import build_confluent_plan
from transit_operator.plan.ncc import rule_domain_names

GLB = "eastus2.azure.glb.confluent.cloud"
GLB_BOOTSTRAP = f"lkc-1-n-abc123.{GLB}"


@pytest.mark.parametrize(
    ("name", "private", "zone"),
    [
        pytest.param(f"e-0011-az1-n-abc123.{GLB}", f"e-0011.az1.{DOMAIN}", "az1", id="glb-broker"),
        pytest.param(f"E-0015-AZ3-N-ABC123.{GLB.upper()}", f"e-0015.az3.{DOMAIN}", "az3", id="glb-upper-case"),
        pytest.param(GLB_BOOTSTRAP, f"lkc-1.{DOMAIN}", None, id="glb-bootstrap"),
        pytest.param(f"e-0011.az2.{DOMAIN}", f"e-0011.az2.{DOMAIN}", "az2", id="private-broker"),
        pytest.param(f"lkc-1.{DOMAIN}", f"lkc-1.{DOMAIN}", None, id="private-bootstrap"),
        pytest.param(f"e-0011-az1-othernet.{GLB}", f"e-0011-az1-othernet.{GLB}", None, id="other-network"),
        pytest.param(f"x.e-0011-az1-n-abc123.{GLB}", f"x.e-0011-az1-n-abc123.{GLB}", None, id="not-one-label"),
    ],
)
def test_both_shapes_map_to_the_private_name_and_its_zone(name: str, private: str, zone: str | None) -> None:
    assert private_name(name, DOMAIN) == private
    assert zone_of(name, DOMAIN) == zone


def test_glb_domain_drops_the_network_and_puts_glb_before_confluent_cloud() -> None:
    assert glb_domain(DOMAIN) == GLB
    assert is_glb_of(GLB_BOOTSTRAP, DOMAIN) and not is_glb_of(f"n-abc123.{GLB}", DOMAIN)


def test_a_glb_bootstrap_is_accepted_and_one_of_another_network_is_refused() -> None:
    confluent = copy.deepcopy(cpl_doc()["spec"]["confluent"])
    confluent["bootstrapServer"] = f"{GLB_BOOTSTRAP}:9092"
    assert ConfluentNetwork.model_validate(confluent).uses_glb_names
    confluent["bootstrapServer"] = f"lkc-1-othernet.{GLB}:9092"
    with pytest.raises(ValidationError, match=r"neither inside dnsDomain .* nor a glb name of it"):
        ConfluentNetwork.model_validate(confluent)


def glb_cpl() -> dict:
    doc = cpl_doc()
    doc["spec"]["confluent"]["bootstrapServer"] = f"{GLB_BOOTSTRAP}:9092"
    return doc


def test_glb_network_domain_names_add_the_glb_wildcard() -> None:
    network = ConfluentNetwork.model_validate(glb_cpl()["spec"]["confluent"])
    databricks = ServerlessTransit.model_validate(sxt_doc()).spec.databricks
    assert rule_domain_names(network, databricks) == sorted(
        [f"*.{GLB}", f"*.{DOMAIN}", *(f"*.az{n}.{DOMAIN}" for n in (1, 2, 3)), GLB_BOOTSTRAP]
    )


def test_explicit_domain_names_replace_the_derived_ones() -> None:
    network = ConfluentNetwork.model_validate(glb_cpl()["spec"]["confluent"])
    names = [GLB_BOOTSTRAP, f"e-0001-az1-n-abc123.{GLB}", f"e-0002-az2-n-abc123.{GLB}"]
    doc = sxt_doc()
    doc["spec"]["databricks"]["domainNames"] = names
    databricks = ServerlessTransit.model_validate(doc).spec.databricks
    assert rule_domain_names(network, databricks) == sorted(names)


@pytest.mark.parametrize(
    ("databricks", "error"),
    [
        pytest.param({"domainNames": [f"b{i}.example.com" for i in range(11)]}, "spec.databricks.domainNames",
                     id="eleven-explicit-names"),
        pytest.param({"domainNames": ["a.example.com"], "extraDomainNames": ["b.example.com"]},
                     "not both", id="explicit-and-extra"),
        pytest.param({"domainNames": []}, "spec.databricks.domainNames", id="empty-explicit-list"),
    ],
)  # fmt: skip
def test_bad_domain_name_settings_are_refused_with_the_field(databricks: dict, error: str) -> None:
    doc = sxt_doc()
    doc["spec"]["databricks"].update(databricks)
    with pytest.raises(ValidationError) as exc:
        ServerlessTransit.model_validate(doc)
    text = str(exc.value).replace("\n", " ")
    assert error.split(".")[-1] in text or error in text


def test_derived_plus_extra_names_over_ten_name_the_field() -> None:
    network = ConfluentNetwork.model_validate(glb_cpl()["spec"]["confluent"])  # 6 derived
    doc = sxt_doc()
    doc["spec"]["databricks"]["extraDomainNames"] = [f"k{i}.example.com" for i in range(5)]
    databricks = ServerlessTransit.model_validate(doc).spec.databricks
    with pytest.raises(ValueError, match=r"^spec\.databricks\.extraDomainNames: 11 domain names .* at most 10"):
        rule_domain_names(network, databricks)


def test_glb_bootstrap_needs_no_record_of_its_own() -> None:
    plan = build_confluent_plan(ConfluentPrivateLink.model_validate(with_status(glb_cpl(), *ALL_APPROVED)), uid=None)
    assert sorted(records(plan)) == ["*", "*.az1", "*.az2", "*.az3"]

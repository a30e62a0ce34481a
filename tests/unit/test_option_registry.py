"""One registry entry per ServerlessTransit option in each layer (issue 17 step 4): the API's option names
and settings blocks, the plan builders, the reconcile options; and the resource families an option reuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic.alias_generators import to_snake

from transit_operator.api.v1alpha1 import (
    TRANSIT_OPTIONS,
    ApplicationGatewaySpec,
    HAProxySpec,
    ScaleSetSpec,
    ServerlessTransitSpec,
)
from transit_operator.plan import ids
from transit_operator.plan.ownership import Owner
from transit_operator.plan.transit import PLANS
from transit_operator.plan.transit.lb_pls import (
    HealthProbe,
    LbPlsIds,
    build_load_balancer,
    build_private_link_service,
)
from transit_operator.plan.transit.vmss import build_vmss
from transit_operator.reconcile.transit.registry import OPTIONS

SUB = "11111111-2222-3333-4444-555555555555"
NET = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI x"
BLOCKS: dict[str, dict[str, Any]] = {
    "haproxy": {"sshPublicKey": KEY},
    "applicationGateway": {"privateFrontendIp": "10.0.2.10"},
}


def spec(option: str, **blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "option": option,
        "confluentPrivateLinkRef": {"name": "c"},
        "azure": {"subscriptionId": SUB, "resourceGroup": "rg", "location": "westeurope"},
        "network": {"frontendSubnetId": f"{NET}/a", "privateLinkSubnetId": f"{NET}/b"},
        "databricks": {"accountId": "22222222-3333-4444-5555-666666666666", "ncc": {"name": "ncc-x"}},
        **blocks,
    }


def test_every_layer_registers_the_same_options_once() -> None:
    assert set(TRANSIT_OPTIONS) == set(PLANS) == set(OPTIONS)
    assert len(TRANSIT_OPTIONS) == len(set(TRANSIT_OPTIONS))


@pytest.mark.parametrize("option", TRANSIT_OPTIONS)
def test_an_option_s_settings_block_is_the_field_named_after_it(option: str) -> None:
    field = ServerlessTransitSpec.model_fields[to_snake(option)]
    assert field.alias == option
    parsed = ServerlessTransitSpec.model_validate(spec(option, **{option: BLOCKS[option]}))
    assert parsed.option_block is getattr(parsed, to_snake(option))
    assert isinstance(parsed.option_block, (HAProxySpec, ApplicationGatewaySpec))


@pytest.mark.parametrize("option", TRANSIT_OPTIONS)
def test_the_option_s_block_is_required_and_every_other_refused(option: str) -> None:
    with pytest.raises(ValidationError, match=f"`{option}` is required when option is '{option}'"):
        ServerlessTransitSpec.model_validate(spec(option))
    for other in TRANSIT_OPTIONS:
        if other != option:
            both = spec(option, **{option: BLOCKS[option], other: BLOCKS[other]})
            with pytest.raises(ValidationError, match=f"`{other}` must not be set when option is '{option}'"):
                ServerlessTransitSpec.model_validate(both)


def test_an_unknown_option_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(ValidationError) as info:
        ServerlessTransitSpec.model_validate(spec("nginx"))
    assert all(name in str(info.value) for name in TRANSIT_OPTIONS)


def test_the_lb_pls_and_vmss_families_serve_any_proxy() -> None:
    """What a third option (an NGINX scale set, say) reuses: its own pool, probe and cloud-init."""
    transit = ServerlessTransitSpec.model_validate(spec("haproxy", haproxy=BLOCKS["haproxy"]))
    owner = Owner("ServerlessTransit", "ns", "t", "uid")
    lb_ids = LbPlsIds.of(transit, owner, pool="nginx", probe="nginx-health")
    lb = build_load_balancer(transit, lb_ids, HealthProbe("nginx-health", 8080, "/ready"), owner=owner)
    (probe,) = lb.body["properties"]["probes"]
    assert (probe["name"], probe["properties"]["port"], probe["properties"]["requestPath"]) == (
        "nginx-health", 8080, "/ready"
    )
    assert lb.body["properties"]["backendAddressPools"] == [{"name": "nginx"}]
    pls = build_private_link_service(transit, lb_ids, visibility=[], owner=owner)
    assert pls.dependsOn == [lb_ids.load_balancer] and pls.body["properties"]["visibility"] == {"subscriptions": ["*"]}
    scale_set = ScaleSetSpec(ssh_public_key=KEY, instance_count=3)
    nsg = ids.resource_id(SUB, "rg", ids.NETWORK_SECURITY_GROUPS, "nsg-x")
    vmss = build_vmss(transit, scale_set, owner=owner, nsg_id=nsg, backend_pool_id=lb_ids.backend_pool,
                      cloud_init="#cloud-config\n", field="spec.nginx")
    assert vmss.dependsOn == [nsg, lb_ids.load_balancer]
    assert vmss.body["sku"]["capacity"] == 3
    profile = vmss.body["properties"]["virtualMachineProfile"]
    nic = profile["networkProfile"]["networkInterfaceConfigurations"][0]["properties"]
    assert nic["ipConfigurations"][0]["properties"]["loadBalancerBackendAddressPools"] == [{"id": lb_ids.backend_pool}]
    with pytest.raises(ValueError, match=r"spec\.nginx"):
        build_vmss(transit, scale_set, owner=owner, nsg_id=nsg, backend_pool_id=lb_ids.backend_pool,
                   cloud_init="x" * 70_000, field="spec.nginx")


def test_the_haproxy_block_keeps_its_flat_wire_shape() -> None:
    # ScaleSetSpec is a base class, not a nested block: the CRD and every existing object stay as they are.
    fields = list(HAProxySpec.model_json_schema(by_alias=True)["properties"])
    assert fields == [*ScaleSetSpec.model_json_schema(by_alias=True)["properties"], "privateLinkVisibility",
                      "runCommandConcurrency", "statusEndpoint"]
    assert copy.deepcopy(BLOCKS["haproxy"]) == HAProxySpec.model_validate(BLOCKS["haproxy"]).model_dump(
        by_alias=True, include={"ssh_public_key"}
    )

"""Databricks side of a transit: NCC, private endpoint rule, workspace binding (databricks-sdk bodies).

Bodies are snake_case, exactly what databricks-sdk's request objects serialise to (`as_dict()`):

- NCC create:  `CreateNetworkConnectivityConfiguration` -> `{"name", "region"}`
  (POST /api/2.0/accounts/{account_id}/network-connectivity-configs)
- rule create: `CreatePrivateEndpointRule` -> `{"resource_id", "domain_names"}` for a Private Link Service
  target, `{"resource_id", "group_id"}` for an Application Gateway (they conflict; docs/platform-rules.md#ncc-rule)
- binding:     `Workspace(network_connectivity_config_id=...)` with `update_mask=network_connectivity_config_id`
  (PATCH /api/2.0/accounts/{account_id}/workspaces/{workspace_id}); the plan body also carries
  `workspace_id`, which goes in the path.

Databricks Serverless resolves the Kafka names through the rule's `domain_names`, so they must cover the
bootstrap host and every broker name: `*.<domain>` and `*.azN.<domain>` (a wildcard covers one label).
A network whose bootstrap is a glb name (CHASED_PRIVATE, `api.hostnames`) hands clients glb broker names,
flat under `<region>.azure.glb.confluent.cloud`: only `*.<glb domain>` covers them, and it covers every
Confluent glb name of the region, so `spec.databricks.domainNames` can replace the derived list with exact
names (also for an account where wildcards turn out to be refused: whether Databricks accepts them is
unconfirmed). A rule holds at most 10 domain names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from transit_operator.api.errors import InvalidSpec
from transit_operator.api.hostnames import glb_domain
from transit_operator.api.v1alpha1 import (
    NCC_RULE_MAX_DOMAIN_NAMES,
    RESERVED_TLDS,
    ConfluentNetwork,
    DatabricksSpec,
)
from transit_operator.plan.model import DatabricksAction

__all__ = [
    "build_databricks_actions",
    "build_ncc_body",
    "build_private_endpoint_rule_body",
    "build_workspace_binding_body",
    "covered",
    "derive_domain_names",
    "ncc_region",
    "rule_domain_names",
]


def _checked(name: str, field: str = "spec.databricks.extraDomainNames") -> str:
    name = name.strip().lower().rstrip(".")
    if not name:
        raise InvalidSpec("empty domain name", field=field)
    tld = name.rsplit(".", 1)[-1]
    if "." not in name or tld in RESERVED_TLDS:
        raise InvalidSpec(
            f"domain name {name!r}: top-level domain '.{tld}' is refused by Databricks NCC rules", field=field
        )
    return name


def derive_domain_names(confluent: ConfluentNetwork, extra: Iterable[str] = ()) -> list[str]:
    """Bootstrap host, `*.<domain>`, `*.azN.<domain>` per zone (and `*.<glb domain>` when the bootstrap is
    a glb name), plus `extra`; lowercased, sorted, unique.

    Raises InvalidSpec for a reserved top-level domain (`.internal`, `.local`, ...), which Databricks refuses.
    """
    domain = confluent.dns_domain
    names = {
        confluent.bootstrap_host,
        f"*.{domain}",
        *(f"*.{zone.name}.{domain}" for zone in confluent.zones),
    }
    if confluent.uses_glb_names:
        names.add(f"*.{glb_domain(domain)}")
    names.update(extra)
    return sorted({_checked(n) for n in names})


_STATUS_FIELD = "spec.haproxy.statusEndpoint.domainName"


def covered(name: str, names: Sequence[str]) -> bool:
    """`name` is on the list, or a wildcard on it covers `name` (one label: `*.x` covers `a.x`)."""
    return name in names or ("." in name and "*." + name.split(".", 1)[1] in names)


def rule_domain_names(
    confluent: ConfluentNetwork, databricks: DatabricksSpec, *, status_name: str | None = None
) -> list[str]:
    """The rule's domain names: `domainNames` as given, else the derived ones plus `extraDomainNames`; plus
    `status_name` (the haproxy status endpoint's) unless a wildcard on the list covers it already.

    Raises InvalidSpec naming the field when they are more than a rule holds (10).
    """
    if databricks.domain_names is not None:
        names = sorted({_checked(n, "spec.databricks.domainNames") for n in databricks.domain_names})
        source = "spec.databricks.domainNames"
    else:
        names = derive_domain_names(confluent, databricks.extra_domain_names)
        source = "the derived names and spec.databricks.extraDomainNames"
        if len(names) > NCC_RULE_MAX_DOMAIN_NAMES:
            derived = len(derive_domain_names(confluent))
            raise InvalidSpec(
                f"{len(names)} domain names with the {derived} derived ones ({', '.join(names)}); a Databricks "
                f"NCC private endpoint rule holds at most {NCC_RULE_MAX_DOMAIN_NAMES}: drop some, or list the "
                "exact names in spec.databricks.domainNames",
                field="spec.databricks.extraDomainNames",
            )
    if status_name is None or covered(status_name.lower(), names):
        return names
    with_status = sorted({*names, _checked(status_name, _STATUS_FIELD)})
    if len(with_status) > NCC_RULE_MAX_DOMAIN_NAMES:
        raise InvalidSpec(
            f"the status endpoint's domain name would be the {len(with_status)}th on the NCC rule ({source}: "
            f"{len(names)}); a rule holds at most {NCC_RULE_MAX_DOMAIN_NAMES}: drop a name there, or pick a "
            "status name a wildcard on the rule covers (e.g. transit-status.<dnsDomain>)",
            field=_STATUS_FIELD,
        )
    return with_status


def ncc_region(databricks: DatabricksSpec, default_region: str) -> str:
    """The NCC's region: `ncc.region`, else the transit's Azure region (must be the workspaces' region)."""
    return databricks.ncc.region or default_region


def build_ncc_body(name: str, region: str) -> dict[str, Any]:
    return {"name": name, "region": region}


def build_private_endpoint_rule_body(
    resource_id: str, *, domain_names: Sequence[str] | None = None, group_id: str | None = None
) -> dict[str, Any]:
    """Rule body: a Private Link Service target takes `domain_names`, an Application Gateway `group_id`."""
    if (domain_names is None) == (group_id is None):
        raise ValueError(
            "a private endpoint rule takes exactly one of domain_names (PLS) or group_id (App Gateway)"
        )
    if domain_names is not None:
        return {"resource_id": resource_id, "domain_names": list(domain_names)}
    return {"resource_id": resource_id, "group_id": group_id}


def build_workspace_binding_body(workspace_id: int, ncc_id: str | None) -> dict[str, Any]:
    """`ncc_id` is None while the NCC is still to be created (the reconciler fills it in)."""
    return {"workspace_id": workspace_id, "network_connectivity_config_id": ncc_id}


def build_databricks_actions(
    databricks: DatabricksSpec,
    *,
    default_region: str,
    rule: dict[str, Any] | None,
    ncc_id: str | None = None,
) -> list[DatabricksAction]:
    """NCC (only when created by name), the rule (None: not ready yet), one binding per workspace id.

    `ncc_id`: the observed NCC id (status); an adopted NCC (`ncc.id`) wins.
    """
    actions: list[DatabricksAction] = []
    if databricks.ncc.name is not None:
        body = build_ncc_body(databricks.ncc.name, ncc_region(databricks, default_region))
        actions.append(DatabricksAction(type="networkConnectivityConfig", body=body))
    if rule is not None:
        actions.append(DatabricksAction(type="privateEndpointRule", body=rule))
    known_id = databricks.ncc.id or ncc_id
    for workspace_id in sorted(set(databricks.workspace_ids)):
        actions.append(
            DatabricksAction(
                type="workspaceBinding", body=build_workspace_binding_body(workspace_id, known_id)
            )
        )
    return actions

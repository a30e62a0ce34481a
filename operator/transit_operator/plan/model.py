"""The plan: everything one CR wants in the cloud, as data (contract in docs/architecture.md).

A `Plan` is what the pure builders return and what `transit-operator plan` prints: ARM objects exactly as
PUT, Databricks account API bodies as databricks-sdk sends them, the files rendered for the proxy
instances, and human sentences saying which parts cannot be complete yet (e.g. they wait for endpoint
IPs). The reconcilers compare these bodies with what they observe; nothing here does I/O.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AzureResource", "DatabricksAction", "DatabricksActionType", "Plan"]

DatabricksActionType = Literal["networkConnectivityConfig", "privateEndpointRule", "workspaceBinding"]


class AzureResource(BaseModel):
    """One ARM object, exactly as PUT: `PUT {id}?api-version={apiVersion}` with `body`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="ARM resource type, e.g. `Microsoft.Network/privateEndpoints`.")
    id: str = Field(description="Full ARM resource id.")
    apiVersion: str = Field(description="The api-version the SDK sends for this type.")
    body: dict[str, Any] = Field(description="REST-shaped request body: location, tags, properties...")
    dependsOn: list[str] = Field(
        default_factory=list,
        description="Ids of resources *in the same plan* that must exist first (external ids are not listed).",
    )

    @property
    def name(self) -> str:
        """Last segment of the id (the resource's own name)."""
        return self.id.rsplit("/", 1)[-1]


class DatabricksAction(BaseModel):
    """One Databricks account API call body (snake_case, as databricks-sdk sends it).

    `networkConnectivityConfig`: POST .../network-connectivity-configs body `{name, region}`.
    `privateEndpointRule`: POST .../network-connectivity-configs/{ncc_id}/private-endpoint-rules body
    `{resource_id, domain_names}` (or `group_id` for an Application Gateway).
    `workspaceBinding`: PATCH .../workspaces/{workspace_id}?update_mask=network_connectivity_config_id body
    `{network_connectivity_config_id}`; `workspace_id` is carried in the body too (it goes in the path).
    """

    model_config = ConfigDict(extra="forbid")

    type: DatabricksActionType = Field(description="Which Databricks object this body is for.")
    body: dict[str, Any] = Field(description="Request body, snake_case.")


class Plan(BaseModel):
    """The complete desired state of one CR."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    namespace: str
    name: str
    azure: list[AzureResource] = Field(default_factory=list, description="ARM objects, dependencies first.")
    databricks: list[DatabricksAction] = Field(default_factory=list)
    files: dict[str, str] = Field(
        default_factory=dict, description="Rendered files: haproxy.cfg, cloud-init.yaml, apply-haproxy.sh, backend-health.sh."
    )
    waiting: list[str] = Field(
        default_factory=list, description="Human sentences: which parts wait for what (e.g. endpoint IPs)."
    )

    def resource(self, resource_id: str) -> AzureResource:
        """The resource with this id (case-insensitive, as ARM ids are). KeyError if absent."""
        wanted = resource_id.lower()
        for item in self.azure:
            if item.id.lower() == wanted:
                return item
        raise KeyError(resource_id)

    def resources_of_type(self, type_: str) -> list[AzureResource]:
        """Resources of one ARM type (case-insensitive), in plan order."""
        return [item for item in self.azure if item.type.lower() == type_.lower()]

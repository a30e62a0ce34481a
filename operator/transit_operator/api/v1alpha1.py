"""API group `transit.privatelink.io/v1alpha1`: the single source of truth for both CRDs.

The CRD YAML in `crds/`, `kubectl explain` text and the README's API reference are generated from these
models (`transit_operator.api.crd`). Every field carries a description; every field that can be wrong is
validated here, so `plan`, the reconcilers and the API server (through the generated openAPIV3Schema)
refuse bad input with the field's path.

Spec holds what the user wants; cloud facts (ids, IPs, states) live in status only. The status models are
what the reconcilers build and the runtime writes (`api.status.dump_status`); unknown status fields are
dropped when a CR is read (`api.status`), never accepted when one is written. Status values that
flow into cloud writes, DNS records and haproxy.cfg (endpoint IPs, ids) are validated as strictly as spec
values when another object reads them.

What a value can be is what the cloud accepts, so that nothing is written for an object that can never
succeed: ARM id segments follow Azure's naming rules for their type (lengths, characters, first and last
character; learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules), so no id can
walk out of its resource (`/subnets/..`); private IPs are RFC 1918 addresses (never loopback, link-local,
multicast or unspecified); DNS names fit 253 characters with every record name derived from them; names
fit the Azure tag that carries them (`api.meta`). `api.admission` does what the API server does before
the models see a document (JSON types, int64, pruning), for `transit-operator plan`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from transit_operator.api.hostnames import glb_domain, is_glb_of
from transit_operator.api.kinds import API_VERSION as API_VERSION  # re-exported: the models' public surface
from transit_operator.api.kinds import CONFLUENT_PRIVATE_LINK, SERVERLESS_TRANSIT
from transit_operator.api.kinds import GROUP as GROUP
from transit_operator.api.kinds import VERSION as VERSION
from transit_operator.api.meta import object_meta_errors
from transit_operator.api.status import known_fields_only

# Top-level domains Databricks refuses in NCC rule domain names and that never resolve publicly
# (RFC 6761/6762/7686 special-use names; `.internal` is ICANN-reserved for private use).
# "Each private endpoint rule ... supports up to 10 domain names" (Databricks, serverless private
# connectivity to resources in your VNet/VPC).
NCC_RULE_MAX_DOMAIN_NAMES = 10
RESERVED_TLDS = ("internal", "local", "localhost", "test", "example", "invalid", "onion", "arpa", "lan", "home")

INT64_MAX = 2**63 - 1

_GUID_BODY = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID = f"^{_GUID_BODY}$"
# Azure's naming rules per type (resource-name-rules, "Microsoft.Resources" and "Microsoft.Network"), as
# regexes both Python and the API server's RE2 accept. Resource groups: 1-90 of letters, digits, `_-.()`,
# not ending in a period (Azure also allows Unicode letters; ASCII here). Virtual networks 2-64, subnets
# 1-80, private link services 2-64: "alphanumerics, underscores, periods, and hyphens; start with
# alphanumeric; end alphanumeric or underscore". A name can therefore never be `.` or `..`.
_RG_NAME = r"[-A-Za-z0-9_.()]{0,89}[-A-Za-z0-9_()]"
_VNET_NAME = r"[A-Za-z0-9][-A-Za-z0-9_.]{0,62}[A-Za-z0-9_]"
_SUBNET_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,78}[A-Za-z0-9_])?"
_PLS_NAME = r"[A-Za-z0-9][-A-Za-z0-9_.]{0,62}[A-Za-z0-9_]"
_RG = f"^{_RG_NAME}$"
_ARM_PREFIX = f"^/subscriptions/{_GUID_BODY}/resourceGroups/{_RG_NAME}/providers/"
# Any ARM id: every segment a plain name (no `.`/`..`, no URL-special characters).
_ARM_ID = _ARM_PREFIX + r"[A-Za-z0-9][A-Za-z0-9.]*(/[A-Za-z0-9_()-][A-Za-z0-9_.()-]*[A-Za-z0-9_()-]|/[A-Za-z0-9_])+$"
_NETWORK = r"(?i:Microsoft\.Network)"
_SUBNET_ID = _ARM_PREFIX + _NETWORK + f"/(?i:virtualNetworks)/{_VNET_NAME}/(?i:subnets)/{_SUBNET_NAME}$"
_VNET_ID = _ARM_PREFIX + _NETWORK + f"/(?i:virtualNetworks)/{_VNET_NAME}$"
_PLS_ID = _ARM_PREFIX + _NETWORK + f"/(?i:privateLinkServices)/{_PLS_NAME}$"
# A Private Link Service alias: prefix.{GUID}.region.azure.privatelinkservice
_PLS_ALIAS = r"^[a-z0-9][-a-z0-9]{0,78}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[a-z0-9]+\.azure\.privatelinkservice$"
_DNS_NAME = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$"
_DOMAIN_PATTERN = r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z][-a-z0-9]{0,61}[a-z0-9]$"
_REGION = r"^[a-z][a-z0-9]{2,39}$"
_K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# `https://host[:port]`: DNS labels only (no userinfo, path, query); which hosts may receive credentials
# is the operator's decision (`cloud.context.databricks_host`), not the CR's.
_ACCOUNT_HOST = (
    r"^https://[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?/?$"
)
# The longest record name derived from the Confluent domain is `*.azN.<domain>` (DNS records, NCC rule
# domain names): 6 characters more than the domain, within DNS's 253. Azure private DNS zones have at most
# 34 labels (resource-name-rules, "privateDnsZones").
_MAX_DOMAIN = 253 - len("*.az1.")
_MAX_ZONE_LABELS = 34
# RFC 1918: the only addresses a private endpoint, a frontend IP or a backend can have here. Loopback,
# link-local (169.254/16, where the instance metadata service lives), multicast, unspecified and the rest
# of Python's `is_private` (100.64/10 shared space, 192.0.0/24, benchmarks...) are refused.
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _not_reserved(name: str) -> str:
    tld = name.rstrip(".").rsplit(".", 1)[-1]
    if tld in RESERVED_TLDS:
        raise ValueError(f"top-level domain '.{tld}' is reserved and refused by Databricks NCC rules")
    return name


def is_private_ipv4(value: object) -> bool:
    """True for a dotted-quad RFC 1918 address (see `_RFC1918`)."""
    if not isinstance(value, str):
        return False
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return str(address) == value and any(address in network for network in _RFC1918)


def _ipv4(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not an IPv4 address") from exc
    if not is_private_ipv4(value):
        kind = (
            "loopback" if address.is_loopback else "link-local" if address.is_link_local
            else "multicast" if address.is_multicast else "unspecified" if address.is_unspecified
            else "not in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
        )
        raise ValueError(f"'{value}' is not a private address (RFC 1918): {kind}")
    return value


def _account_host(value: str) -> str:
    port = value.rstrip("/").rsplit(":", 1)[-1] if value.count(":") == 2 else None
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is out of range 1-65535")
    return value


Guid = Annotated[str, StringConstraints(pattern=_GUID)]
ResourceGroupName = Annotated[str, StringConstraints(pattern=_RG, max_length=90)]
Region = Annotated[str, StringConstraints(pattern=_REGION)]
SubnetId = Annotated[str, StringConstraints(pattern=_SUBNET_ID, max_length=1024)]
VirtualNetworkId = Annotated[str, StringConstraints(pattern=_VNET_ID, max_length=1024)]
DnsName = Annotated[str, StringConstraints(pattern=_DNS_NAME, max_length=253), AfterValidator(_not_reserved)]
DomainName = Annotated[str, StringConstraints(pattern=_DOMAIN_PATTERN, max_length=253), AfterValidator(_not_reserved)]
PrivateIPv4 = Annotated[str, StringConstraints(max_length=15), AfterValidator(_ipv4)]
Port = Annotated[int, Field(ge=1, le=65535)]
ZoneName = Literal["az1", "az2", "az3"]
AvailabilityZone = Literal["1", "2", "3"]
DeletionPolicy = Literal["Delete", "Orphan"]
KubernetesName = Annotated[str, StringConstraints(pattern=_K8S_NAME, max_length=253)]
ImageField = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][-A-Za-z0-9_.]*$", min_length=1, max_length=64)]
# Status values read back (see the module docstring).
PrivateEndpointId = Annotated[
    str,
    StringConstraints(pattern=_ARM_PREFIX + _NETWORK + f"/(?i:privateEndpoints)/{_PLS_NAME}$", max_length=1024),
]
PrivateDnsZoneId = Annotated[
    str,
    StringConstraints(
        pattern=_ARM_PREFIX + _NETWORK + r"/(?i:privateDnsZones)/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z0-9-]+$",
        max_length=1024,
    ),
]
StateName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{1,40}$")]
DatabricksId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")]
EndpointName = Annotated[str, StringConstraints(pattern=f"^{_PLS_NAME}$|^[A-Za-z0-9]$", max_length=80)]


def _object_meta(metadata: dict[str, Any]) -> dict[str, Any]:
    errors = object_meta_errors(metadata)
    if errors:
        field, message = errors[0]
        raise ValueError(f"{field}: {message}")
    return metadata


ObjectMeta = Annotated[dict[str, Any], AfterValidator(_object_meta)]

# The ServerlessTransit options: each name is also the camelCase name of the option's settings block in the
# spec (`haproxy`, `applicationGateway`), which is required with it and refused with any other. Adding an
# option here is the API's part of the checklist in docs/architecture.md.
TransitOptionName = Literal["haproxy", "applicationGateway"]
TRANSIT_OPTIONS: tuple[str, ...] = get_args(TransitOptionName)


class ApiModel(BaseModel):
    """Base: camelCase on the wire, unknown fields refused (a typo is an error, not a silent no-op)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", use_attribute_docstrings=False
    )


class AzureTarget(ApiModel):
    """Where the Azure resources live."""

    subscription_id: Guid = Field(description="Azure subscription id (GUID) that holds the resources.")
    resource_group: ResourceGroupName = Field(description="Resource group for every resource this object creates.")
    location: Region = Field(description="Azure region, e.g. `eastus2`; must be the region of the VNet used.")


class LocalObjectReference(ApiModel):
    """A reference to an object in the same namespace."""

    name: KubernetesName = Field(description="Name of the object in the same namespace.")


# ---------------------------------------------------------------------------------------------------
# ConfluentPrivateLink
# ---------------------------------------------------------------------------------------------------


class ConfluentZone(ApiModel):
    """One availability zone of the Confluent network and its Private Link Service."""

    name: ZoneName = Field(description="Confluent zone subdomain: `az1`, `az2` or `az3`.")
    private_link_service_alias: Annotated[
        str, StringConstraints(pattern=f"({_PLS_ALIAS})|({_PLS_ID})", max_length=1024)
    ] = Field(
        description=(
            "The zone's Private Link Service alias from Confluent Cloud "
            "(`<prefix>.<guid>.<region>.azure.privatelinkservice`), or its resource id."
        )
    )


class ConfluentNetwork(ApiModel):
    """The Confluent Cloud network of type PRIVATELINK."""

    network_id: Annotated[str, StringConstraints(pattern=r"^n-[a-z0-9]{3,32}$")] = Field(
        description="Confluent network id, e.g. `n-abc123`."
    )
    dns_domain: DnsName = Field(
        description="The network's DNS domain, e.g. `n-abc123.eastus2.azure.confluent.cloud`."
    )
    bootstrap_server: Annotated[
        str,
        StringConstraints(
            pattern=r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}:[0-9]{1,5}$", max_length=253 + 6
        ),
    ] = Field(
        description=(
            "Kafka bootstrap `host:port`: inside `dnsDomain` (`lkc-xxxxx.<dnsDomain>`), or its glb form "
            "(`lkc-xxxxx-<net>.<region>.azure.glb.confluent.cloud`, CHASED_PRIVATE networks)."
        )
    )
    zones: list[ConfluentZone] = Field(
        min_length=1,
        max_length=3,
        description="One entry per zone: 1 for a single-zone network, 3 for a multi-zone network.",
    )

    @field_validator("zones")
    @classmethod
    def _one_or_three_distinct(cls, zones: list[ConfluentZone]) -> list[ConfluentZone]:
        if len(zones) not in (1, 3):
            raise ValueError(f"a Confluent network has 1 or 3 zones, got {len(zones)}")
        names = [z.name for z in zones]
        if len(set(names)) != len(names):
            raise ValueError(f"zone names must be distinct, got {names}")
        return zones

    @field_validator("dns_domain")
    @classmethod
    def _records_fit(cls, domain: str) -> str:
        if len(domain) > _MAX_DOMAIN:
            raise ValueError(
                f"'{domain[:40]}...' is {len(domain)} characters; at most {_MAX_DOMAIN}, so that the record "
                "names `*.azN.<dnsDomain>` fit DNS's 253"
            )
        if domain.count(".") + 1 > _MAX_ZONE_LABELS:
            raise ValueError(f"has {domain.count('.') + 1} labels; an Azure private DNS zone has at most 34")
        return domain

    @model_validator(mode="after")
    def _bootstrap_in_domain(self) -> ConfluentNetwork:
        host, _, port = self.bootstrap_server.rpartition(":")
        if not host.endswith("." + self.dns_domain) and not is_glb_of(host, self.dns_domain):
            net = self.dns_domain.split(".", 1)[0]
            raise ValueError(
                f"bootstrapServer host '{host}' is neither inside dnsDomain '{self.dns_domain}' nor a glb name "
                f"of it ('<cluster>-{net}.{glb_domain(self.dns_domain)}')"
            )
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"bootstrapServer port {port} is out of range 1-65535")
        return self

    @property
    def bootstrap_host(self) -> str:
        return self.bootstrap_server.rpartition(":")[0]

    @property
    def uses_glb_names(self) -> bool:
        """The bootstrap is a glb name: clients get glb broker names (CHASED_PRIVATE DNS resolution)."""
        return is_glb_of(self.bootstrap_host, self.dns_domain)


class PrivateEndpointsSpec(ApiModel):
    """The customer-side private endpoints, one per Confluent zone."""

    subnet_id: SubnetId = Field(description="Resource id of the subnet that holds the private endpoints.")
    request_message: Annotated[str, StringConstraints(max_length=140)] = Field(
        default="transit-operator",
        description="Message sent with each connection request (Azure limits it to 140 characters).",
    )


class DnsSpec(ApiModel):
    """Private DNS for the Confluent domain, so broker names resolve to the endpoint IPs."""

    manage_zone: bool = Field(
        default=True,
        description="Create and manage the private DNS zone, its records and VNet links; false leaves DNS to you.",
    )
    record_type: Literal["A", "CNAME"] = Field(
        default="A",
        description=(
            "`A`: `*` and `*.azN` hold the endpoint IPs. `CNAME`: per-zone A records `endpoint-azN` hold the "
            "IPs and `*.azN` (and `*`, to the first healthy zone) are CNAMEs to them."
        ),
    )
    ttl: int = Field(default=60, ge=1, le=86400, description="TTL in seconds of every record.")
    virtual_network_ids: list[VirtualNetworkId] = Field(
        default_factory=list,
        max_length=100,
        description="Resource ids of the VNets to link the zone to (without auto-registration).",
    )


class ConfluentPrivateLinkSpec(ApiModel):
    """Desired state of a ConfluentPrivateLink."""

    azure: AzureTarget = Field(description="Azure subscription, resource group and region of the endpoints.")
    confluent: ConfluentNetwork = Field(description="The Confluent Cloud network to connect to.")
    private_endpoints: PrivateEndpointsSpec = Field(description="Where and how the private endpoints are created.")
    dns: DnsSpec = Field(default_factory=DnsSpec, description="Private DNS zone, records and VNet links.")
    deletion_policy: DeletionPolicy = Field(
        default="Delete",
        description="`Delete` removes the cloud resources with the object; `Orphan` only removes this operator's tags.",
    )
    drift_check_interval_seconds: int = Field(
        default=300, ge=30, le=86400, description="How often the cloud is re-read to repair drift."
    )


class Condition(ApiModel):
    """A Kubernetes-style condition (kstatus-compatible)."""

    type: str = Field(description="Condition type: `Ready`, `Reconciling`, `Stalled`, or a domain condition.")
    status: Literal["True", "False", "Unknown"] = Field(description="`True`, `False` or `Unknown`.")
    reason: str = Field(default="", description="CamelCase reason code.")
    message: str = Field(default="", description="Human-readable details, with Azure's error code verbatim.")
    last_transition_time: str | None = Field(default=None, description="When the status last changed (RFC 3339).")
    observed_generation: int | None = Field(default=None, description="The generation this condition is about.")


class ZoneStatus(ApiModel):
    """Observed state of one zone's private endpoint. The IP flows into DNS records and haproxy.cfg, the id
    into cloud calls: both are checked as strictly as spec values when read."""

    name: ZoneName = Field(description="Zone subdomain (`az1`...).")
    private_endpoint_id: PrivateEndpointId | None = Field(
        default=None, description="Resource id of the private endpoint."
    )
    private_ip: PrivateIPv4 | None = Field(default=None, description="Private IP of the endpoint, once known.")
    connection_state: StateName | None = Field(
        default=None, description="Connection state: `Pending`, `Approved`, `Rejected` or `Disconnected`."
    )
    message: str | None = Field(default=None, description="Details from the provider about the connection.")


class ConfluentPrivateLinkStatus(ApiModel):
    """Observed state of a ConfluentPrivateLink."""

    observed_generation: int | None = Field(default=None, description="The spec generation last reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Reconciling, Stalled and details.")
    zones: list[ZoneStatus] = Field(default_factory=list, description="One entry per zone.")
    dns_zone_id: PrivateDnsZoneId | None = Field(default=None, description="Resource id of the private DNS zone.")
    retiring_dns_zone_ids: list[PrivateDnsZoneId] = Field(
        default_factory=list,
        description=(
            "Private DNS zones of an earlier `dnsDomain` (or from before `dns.manageZone` turned false) that "
            "the operator is removing, with their records and links (only zones tagged as its own)."
        ),
    )


class ConfluentPrivateLink(ApiModel):
    """Customer-side private endpoints to a Confluent Cloud network (one per zone), their approval,
    private IPs, and the private DNS zone, records and VNet links that make broker names resolve to them."""

    api_version: Literal["transit.privatelink.io/v1alpha1"] = Field(description="API version.")  # api.kinds
    kind: Literal["ConfluentPrivateLink"] = Field(description="Kind.")
    metadata: ObjectMeta = Field(default_factory=dict, description="Standard object metadata.")
    spec: ConfluentPrivateLinkSpec = Field(description="Desired state.")
    status: Annotated[
        ConfluentPrivateLinkStatus | None, BeforeValidator(known_fields_only(ConfluentPrivateLinkStatus))
    ] = Field(default=None, description="Observed state.")


# ---------------------------------------------------------------------------------------------------
# ServerlessTransit
# ---------------------------------------------------------------------------------------------------


class TransitNetwork(ApiModel):
    """Subnets of the transit in the customer's VNet."""

    frontend_subnet_id: SubnetId = Field(
        description=(
            "haproxy: subnet of the Load Balancer frontend and the VMSS instances. applicationGateway: the "
            "subnet dedicated to the Application Gateway."
        )
    )
    private_link_subnet_id: SubnetId = Field(
        description=(
            "Subnet for the Private Link NAT IPs (haproxy: Private Link Service, needs "
            "`privateLinkServiceNetworkPolicies: Disabled`; applicationGateway: private link configuration, "
            "must differ from the gateway subnet)."
        )
    )


class VmImage(ApiModel):
    """A marketplace image reference."""

    publisher: ImageField = Field(default="Debian", description="Image publisher.")
    offer: ImageField = Field(default="debian-12", description="Image offer.")
    sku: ImageField = Field(default="12-gen2", description="Image SKU.")
    version: ImageField = Field(default="latest", description="Image version.")


class StatusEndpointSpec(ApiModel):
    """An HTTP status endpoint on every HAProxy instance, for troubleshooting from a Databricks notebook.

    `GET http://<domainName>:<port>/status` from serverless compute answers small JSON: the instance that
    answered, the config hash it runs and each zone's server state as HAProxy's health checks see it. The
    operator puts `domainName` on the NCC rule (unless a wildcard there covers it already: mind the rule's
    10 names) and gives the load balancer a rule and the NSG a rule for `port`.
    """

    domain_name: DnsName = Field(
        description=(
            "Name the notebook uses, resolved by Databricks to the NCC endpoint (e.g. "
            "`transit-status.data-platform.example.com`; no wildcard, no reserved top-level domain)."
        )
    )
    port: Port = Field(default=8080, description="TCP port of the status endpoint (not a Kafka port).")


class ScaleSetSpec(ApiModel):
    """The VM scale set of an option whose proxy runs on instances (its fields sit flat in the option's block)."""

    instance_count: int = Field(default=2, ge=1, le=20, description="Number of VMSS instances.")
    vm_size: Annotated[str, StringConstraints(pattern=r"^Standard_[A-Za-z0-9_]+$")] = Field(
        default="Standard_D2s_v5", description="VM size of the instances."
    )
    image: VmImage = Field(default_factory=VmImage, description="OS image (Debian 12 by default).")
    zones: list[AvailabilityZone] = Field(
        default_factory=lambda: list[AvailabilityZone](["1", "2", "3"]),
        min_length=1,
        max_length=3,
        description="Availability zones to spread the instances over.",
    )
    admin_username: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = Field(
        default="transit", description="Admin user on the instances (SSH key only, no password)."
    )
    ssh_public_key: Annotated[
        str,
        StringConstraints(
            pattern=r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?$",
            max_length=8192,
        ),
    ] = Field(description="OpenSSH public key for the admin user.")

    @field_validator("admin_username")
    @classmethod
    def _not_reserved_user(cls, value: str) -> str:
        if value in {"root", "admin", "administrator", "user", "guest", "test"}:
            raise ValueError(f"'{value}' is a user name Azure refuses for Linux VMs")
        return value

    @field_validator("zones")
    @classmethod
    def _distinct_zones(cls, zones: list[str]) -> list[str]:
        if len(set(zones)) != len(zones):
            raise ValueError(f"zones must be distinct, got {zones}")
        return zones


class HAProxySpec(ScaleSetSpec):
    """Option B: Standard Load Balancer + Private Link Service in front of a VMSS running HAProxy."""

    private_link_visibility: list[Guid] = Field(
        default_factory=list,
        max_length=100,
        description="Subscriptions allowed to see the Private Link Service; empty means any (approval is manual).",
    )
    run_command_concurrency: int = Field(
        default=5, ge=1, le=50, description="Instances re-configured at once when the backend IPs change."
    )
    status_endpoint: StatusEndpointSpec | None = Field(
        default=None,
        description=(
            "Optional HTTP status endpoint reachable from Databricks serverless (off when absent): "
            "`GET /status` answers the instance, its config hash and each zone's backend state."
        ),
    )


class ApplicationGatewaySpec(ApiModel):
    """Option A: Application Gateway v2 as an L4 TCP proxy with native Private Link."""

    sku: Literal["Standard_v2", "WAF_v2"] = Field(default="Standard_v2", description="Gateway SKU (v2 only).")
    min_capacity: int = Field(default=1, ge=0, le=125, description="Autoscale minimum instance count.")
    max_capacity: int = Field(default=2, ge=2, le=125, description="Autoscale maximum instance count.")
    private_frontend_ip: PrivateIPv4 = Field(
        description="Static private frontend IP in the gateway subnet; carries the private link configuration."
    )
    private_link_frontend: Literal["private", "public"] = Field(
        default="private",
        description="The frontend that carries the private link configuration and the TCP listeners (and whose "
        "name is the NCC rule's group id): `private` (the Static private IP; TCP through private link there is "
        "unconfirmed) or `public` (the mandatory public IP, as in the field report that carried Kafka over it; "
        "the gateway NSG still denies the Internet). See docs/options.md.",
    )

    @model_validator(mode="after")
    def _capacity_order(self) -> ApplicationGatewaySpec:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"minCapacity {self.min_capacity} is above maxCapacity {self.max_capacity}")
        return self


class NccSpec(ApiModel):
    """The Databricks Network Connectivity Configuration: create one by name, or adopt one by id."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{3,30}$")] | None = Field(
        default=None, description="Name of the NCC to create (3-30 characters: letters, digits, `_`, `-`)."
    )
    id: Guid | None = Field(default=None, description="Id of an existing NCC to adopt instead of creating one.")
    region: Region | None = Field(
        default=None, description="Region of the NCC; defaults to `azure.location`. Must be the workspaces' region."
    )

    @model_validator(mode="after")
    def _name_or_id(self) -> NccSpec:
        if (self.name is None) == (self.id is None):
            raise ValueError("set exactly one of `name` (create) or `id` (adopt)")
        return self


class DatabricksSpec(ApiModel):
    """The Databricks account side: NCC, private endpoint rule and workspace binding."""

    account_host: Annotated[
        str, StringConstraints(pattern=_ACCOUNT_HOST, max_length=270), AfterValidator(_account_host)
    ] = Field(
        default="https://accounts.azuredatabricks.net",
        description=(
            "Databricks account console URL. Credentials are sent only to Databricks account hosts "
            "(`accounts.azuredatabricks.net`, `accounts.databricks.azure.us`, `accounts.databricks.azure.cn`) "
            "unless the operator runs with `--allow-databricks-host`."
        ),
    )
    account_id: Guid = Field(description="Databricks account id.")
    credentials_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description=(
            "Secret with the account credentials (`token`, or `azure_client_id`/`azure_client_secret`/"
            "`azure_tenant_id`, or `client_id`/`client_secret`); omitted: the operator's own identity."
        ),
    )
    ncc: NccSpec = Field(description="The NCC to create or adopt.")
    workspace_ids: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(
        default_factory=list, max_length=50, description="Workspaces to bind to the NCC."
    )
    extra_domain_names: list[DomainName] = Field(
        default_factory=list,
        max_length=NCC_RULE_MAX_DOMAIN_NAMES,
        description=(
            "Domain names added to the derived ones (bootstrap, `*.<domain>`, `*.azN.<domain>`; with a glb "
            "bootstrap also `*.<region>.azure.glb.confluent.cloud`). With them at most 10 in all."
        ),
    )
    domain_names: list[DomainName] | None = Field(
        default=None,
        min_length=1,
        max_length=NCC_RULE_MAX_DOMAIN_NAMES,
        description=(
            "The NCC rule's domain names exactly, instead of the derived wildcards (e.g. the bootstrap and "
            "every broker name, for a Databricks account that refuses wildcards or a workspace that reaches "
            "other Confluent networks of the region). At most 10 (Databricks' limit per rule)."
        ),
    )
    reapprove_rejected: bool = Field(
        default=False,
        description="Approve this rule's connection again if someone rejected it out of band.",
    )

    @model_validator(mode="after")
    def _domain_names_or_extra(self) -> DatabricksSpec:
        if self.domain_names is not None and self.extra_domain_names:
            raise ValueError("set `domainNames` (the exact list) or `extraDomainNames` (added to the derived ones), not both")
        return self


class ServerlessTransitSpec(ApiModel):
    """Desired state of a ServerlessTransit."""

    option: TransitOptionName = Field(
        description="`haproxy` (LB + PLS + VMSS HAProxy, all GA) or `applicationGateway` (App Gateway v2 L4 proxy)."
    )
    confluent_private_link_ref: LocalObjectReference = Field(
        description="The ConfluentPrivateLink (same namespace) whose endpoint IPs are the backends."
    )
    azure: AzureTarget = Field(description="Azure subscription, resource group and region of the transit.")
    network: TransitNetwork = Field(description="Subnets of the transit.")
    ports: list[Port] = Field(
        default_factory=lambda: [9092], min_length=1, max_length=8, description="TCP ports proxied (Kafka: 9092)."
    )
    haproxy: HAProxySpec | None = Field(default=None, description="Settings for `option: haproxy`.")
    application_gateway: ApplicationGatewaySpec | None = Field(
        default=None, description="Settings for `option: applicationGateway`."
    )
    databricks: DatabricksSpec = Field(description="Databricks account, NCC and workspaces.")
    deletion_policy: DeletionPolicy = Field(
        default="Delete",
        description="`Delete` removes the cloud resources with the object; `Orphan` only removes this operator's tags.",
    )
    drift_check_interval_seconds: int = Field(
        default=300, ge=30, le=86400, description="How often the cloud is re-read to repair drift."
    )

    @field_validator("ports")
    @classmethod
    def _distinct_ports(cls, ports: list[int]) -> list[int]:
        if len(set(ports)) != len(ports):
            raise ValueError(f"ports must be distinct, got {ports}")
        return ports

    @model_validator(mode="after")
    def _option_block_matches(self) -> ServerlessTransitSpec:
        if getattr(self, to_snake(self.option)) is None:
            raise ValueError(f"`{self.option}` is required when option is '{self.option}'")
        for other in TRANSIT_OPTIONS:
            if other != self.option and getattr(self, to_snake(other)) is not None:
                raise ValueError(f"`{other}` must not be set when option is '{self.option}'")
        if self.network.frontend_subnet_id.lower() == self.network.private_link_subnet_id.lower():
            raise ValueError("network.privateLinkSubnetId must differ from network.frontendSubnetId")
        status = self.haproxy.status_endpoint if self.haproxy is not None else None
        if status is not None and status.port in self.ports:
            raise ValueError(f"haproxy.statusEndpoint.port {status.port} is also a Kafka port (`ports`)")
        return self

    @property
    def status_domain_name(self) -> str | None:
        """The haproxy status endpoint's domain name, when there is one (it goes on the NCC rule)."""
        status = self.haproxy.status_endpoint if self.haproxy is not None else None
        return status.domain_name if status is not None else None

    @property
    def option_block(self) -> HAProxySpec | ApplicationGatewaySpec:
        """The settings block of `option` (present: validated)."""
        block: HAProxySpec | ApplicationGatewaySpec = getattr(self, to_snake(self.option))
        return block


class NccStatus(ApiModel):
    """Observed Databricks NCC and private endpoint rule."""

    id: DatabricksId | None = Field(default=None, description="NCC id.")
    rule_id: DatabricksId | None = Field(default=None, description="Private endpoint rule id.")
    endpoint_name: EndpointName | None = Field(
        default=None, description="Name of the Databricks-managed private endpoint."
    )
    connection_state: StateName | None = Field(
        default=None, description="Rule connection state: PENDING, ESTABLISHED, REJECTED, DISCONNECTED, EXPIRED."
    )
    domain_names: list[DomainName] = Field(default_factory=list, description="Domain names on the rule.")
    workspace_ids: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(
        default_factory=list, description="Workspaces bound to the NCC."
    )


class InstanceStatus(ApiModel):
    """HAProxy configuration on one VMSS instance."""

    instance_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")] = Field(
        description="VMSS instance id."
    )
    applied_config_hash: str | None = Field(default=None, description="Hash of the config the instance runs.")
    last_error: str | None = Field(default=None, description="Last apply error, if the last apply failed.")


class HAProxyStatus(ApiModel):
    """Observed HAProxy configuration across the fleet."""

    desired_config_hash: str | None = Field(default=None, description="Hash of the config every instance should run.")
    instances: list[InstanceStatus] = Field(default_factory=list, description="One entry per VMSS instance.")


class ApplicationGatewayStatus(ApiModel):
    """Configuration updates of the Application Gateway (option applicationGateway). Azure ends the gateway's
    live TCP connections 30 s after it applies a configuration update (connection draining, not settable),
    so the operator writes the configuration only when it really changes, all changes at once."""

    update_in_flight: bool = Field(
        default=False,
        description="A configuration update the operator started is being applied: live TCP connections "
        "through the gateway end 30 s after it is.",
    )
    configuration_updates: int = Field(
        default=0, description="Configuration updates of the existing gateway the operator has started."
    )
    last_update_changes: list[str] = Field(
        default_factory=list, description="What the last configuration update changed (paths in the gateway body)."
    )
    last_update_time: str | None = Field(
        default=None, description="When the operator started the last configuration update (RFC 3339)."
    )


# The hops of the data path a diagnosis looks at, in the order a Kafka connection from Databricks Serverless
# crosses them (docs/troubleshooting.md). `dnsRecords` is the customer VNet's own way to the endpoints.
HopName = Literal["nccRule", "proxy", "privateEndpoints", "backends", "dnsRecords"]
DATA_PATH_HOPS: tuple[HopName, ...] = ("nccRule", "proxy", "privateEndpoints", "backends", "dnsRecords")
Verdict = Literal["Healthy", "Broken", "Unknown", "NotChecked"]


class HopVerdict(ApiModel):
    """What a diagnosis found at one hop of the data path."""

    hop: HopName = Field(
        description="`nccRule` (the Databricks private endpoint rule), `proxy` (HAProxy instances or the "
        "Application Gateway), `privateEndpoints` (the ConfluentPrivateLink's endpoints), `backends` (the "
        "proxy's own health checks of the Confluent endpoints), `dnsRecords` (the ConfluentPrivateLink's "
        "private DNS records against its endpoints' IPs)."
    )
    verdict: Verdict = Field(description="`Healthy`, `Broken`, `Unknown` (could not be read) or `NotChecked`.")
    message: str = Field(default="", description="What was seen, naming the zone, instance or address.")


class DiagnosisStatus(ApiModel):
    """The last diagnosis of the data path (on the `transit.privatelink.io/diagnose` annotation)."""

    time: str = Field(description="When the diagnosis ran (RFC 3339).")
    trigger: Literal["annotation", "command"] = Field(
        description="What asked for it: the annotation, or `transit-operator diagnose` (which writes no status)."
    )
    request: str | None = Field(
        default=None, description="The `transit.privatelink.io/diagnose` annotation value it answered."
    )
    hops: list[HopVerdict] = Field(default_factory=list, description="One verdict per hop, in path order.")
    first_broken_hop: HopName | None = Field(
        default=None, description="The first hop, in path order, whose verdict is `Broken`."
    )


class ServerlessTransitStatus(ApiModel):
    """Observed state of a ServerlessTransit."""

    observed_generation: int | None = Field(default=None, description="The spec generation last reconciled.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Reconciling, Stalled and details.")
    private_link_resource_id: Annotated[str, StringConstraints(pattern=_ARM_ID, max_length=1024)] | None = Field(
        default=None, description="Resource id the NCC rule targets (Private Link Service or Application Gateway)."
    )
    private_link_group_id: str | None = Field(
        default=None, description="Group id of the NCC rule (App Gateway: the private frontend IP config name)."
    )
    backend_ips: list[PrivateIPv4] = Field(
        default_factory=list, description="Confluent endpoint IPs the transit forwards to."
    )
    ncc: NccStatus | None = Field(default=None, description="Databricks NCC and rule.")
    haproxy: HAProxyStatus | None = Field(default=None, description="HAProxy config hashes (option haproxy).")
    application_gateway: ApplicationGatewayStatus | None = Field(
        default=None, description="Configuration updates of the gateway (option applicationGateway)."
    )
    diagnosis: DiagnosisStatus | None = Field(
        default=None, description="The last diagnosis of the data path, hop by hop (docs/troubleshooting.md)."
    )


class ServerlessTransit(ApiModel):
    """The transit that lets Databricks Serverless reach a Confluent network privately: the proxy for one
    option, the NCC and its private endpoint rule, approval of exactly that rule's connection, and the
    workspace binding."""

    api_version: Literal["transit.privatelink.io/v1alpha1"] = Field(description="API version.")  # api.kinds
    kind: Literal["ServerlessTransit"] = Field(description="Kind.")
    metadata: ObjectMeta = Field(default_factory=dict, description="Standard object metadata.")
    spec: ServerlessTransitSpec = Field(description="Desired state.")
    status: Annotated[
        ServerlessTransitStatus | None, BeforeValidator(known_fields_only(ServerlessTransitStatus))
    ] = Field(default=None, description="Observed state.")


# The model of each kind of `api.kinds` (in the table's order).
KINDS: dict[str, type[ConfluentPrivateLink] | type[ServerlessTransit]] = {
    CONFLUENT_PRIVATE_LINK.kind: ConfluentPrivateLink,
    SERVERLESS_TRANSIT.kind: ServerlessTransit,
}

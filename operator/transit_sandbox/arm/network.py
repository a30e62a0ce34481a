"""Microsoft.Network resource types and their platform rules.

Each class is one resource type on the generic framework in `core.py`; the rules each type enforces are in
its `validate` / `check_delete`, with the documentation that states them. Shapes follow azure-mgmt-network
33.1 (api-version 2026-03-01) and the REST specs (Azure/azure-rest-api-specs, specification/network).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from . import privatelink as pl
from .core import (
    READ_ACTION,
    VMSS_NIC_API_VERSIONS,
    Arm,
    ArmError,
    EmbeddedKind,
    Kind,
    ListOnlyKind,
    ResourceId,
    Response,
    bad_request,
    find_named,
    lower,
    new_etag,
    not_found,
)
from .ipam import allocate, ip_holders, subnet_networks

N = "Microsoft.Network"
VNET = f"{N}/virtualNetworks"
NSG = f"{N}/networkSecurityGroups"
PIP = f"{N}/publicIPAddresses"
NIC = f"{N}/networkInterfaces"
LB = f"{N}/loadBalancers"
PLS = f"{N}/privateLinkServices"
PE = f"{N}/privateEndpoints"
APPGW = f"{N}/applicationGateways"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"
VMSS_NIC = f"{VMSS}/virtualMachines/networkInterfaces"


def _ref_ids(value: Any) -> list[str]:
    return [item["id"] for item in value or [] if isinstance(item, dict) and "id" in item]


def appgw_subnet_owner(arm: Arm, subnet_id: str, exclude: str | None = None) -> dict[str, Any] | None:
    """The application gateway deployed in this subnet, if any."""
    for gw in arm.of_type(APPGW):
        if exclude and lower(gw["id"]) == lower(exclude):
            continue
        for cfg in gw["properties"].get("gatewayIPConfigurations") or []:
            if lower(cfg.get("properties", {}).get("subnet", {}).get("id", "")) == lower(subnet_id):
                return gw
    return None


def refuse_appgw_subnet(arm: Arm, doc: dict[str, Any]) -> None:
    """The App Gateway subnet is dedicated: no other resource may take addresses in it
    (https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#virtual-network-and-dedicated-subnet)."""
    for holder in ip_holders(doc.get("properties")):
        gw = appgw_subnet_owner(arm, holder["subnet"]["id"], exclude=doc["id"])
        if gw is not None:
            raise bad_request(
                "ApplicationGatewaySubnetCannotBeUsedByOtherResources",  # UNCONFIRMED exact code
                f"Subnet {holder['subnet']['id']} is used by application gateway {gw['id']} and cannot be used "
                f"by {doc['id']}: an application gateway subnet may only contain application gateways.",
            )


def allocate_all(arm: Arm, doc: dict[str, Any], configs: list[dict[str, Any]], old_configs: list[dict[str, Any]],
                 address_version: bool = True) -> None:
    """Allocate addresses for named IP configurations (items with `properties.subnet`)."""
    taken: set[str] = set()
    for cfg in configs:
        props = cfg.get("properties", {})
        if not isinstance(props.get("subnet"), dict):
            continue
        old = find_named(old_configs, cfg["name"])
        allocate(arm, doc["id"], props, old.get("properties") if old else None, taken, address_version)


# --- virtual networks -----------------------------------------------------------------------------------


SUBNET_READ_ONLY = (
    "ipConfigurations", "privateEndpoints", "ipConfigurationProfiles", "resourceNavigationLinks",
    "serviceAssociationLinks", "purpose", "applicationGatewayIPConfigurations",
)


class VirtualNetwork(Kind):
    type = VNET
    serialize_writes = True
    collections = {"subnets": SUBNET_READ_ONLY}
    has_resource_guid = True
    in_use_code = "InUseSubnetCannotBeDeleted"

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        props.setdefault("subnets", [])
        space = []
        for prefix in props.get("addressSpace", {}).get("addressPrefixes") or []:
            try:
                space.append(ipaddress.IPv4Network(prefix))
            except ValueError as exc:
                raise bad_request("InvalidAddressPrefixFormatted", f"Address prefix {prefix} is invalid.") from exc
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for subnet in props.get("subnets") or []:
            sp = subnet["properties"]
            sp.setdefault("privateEndpointNetworkPolicies", "Disabled")
            sp.setdefault("privateLinkServiceNetworkPolicies", "Enabled")
            for net in subnet_networks(subnet):
                if not any(net.subnet_of(s) for s in space):
                    raise bad_request(
                        "NetcfgSubnetRangeOutsideVnet",
                        f"Subnet '{subnet['name']}' is not valid because its IP address range is outside the IP "
                        f"address range of virtual network '{doc['name']}'.",
                    )
                for other_name, other in seen:
                    if net.overlaps(other):
                        raise bad_request(
                            "NetcfgSubnetRangesOverlap",
                            f"Subnet '{subnet['name']}' is not valid because its IP address range overlaps with "
                            f"that of an existing subnet '{other_name}' in virtual network '{doc['name']}'.",
                        )
                seen.append((subnet["name"], net))
            old_subnet = find_named((old or {}).get("properties", {}).get("subnets"), subnet["name"])
            if old_subnet and subnet_networks(old_subnet) != subnet_networks(subnet):
                users = arm.referrers(subnet["id"], {lower(doc["id"])})
                if users:
                    raise bad_request(
                        "InUseSubnetCannotBeUpdated",
                        f"Subnet {subnet['name']} is in use by {users[0][0]['id']} and its address prefix "
                        "cannot be changed.",
                    )

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        # Only the subnets' users block the delete (a private DNS zone link to the VNet does not).
        for subnet in doc["properties"].get("subnets") or []:
            arm.refuse_if_referenced(subnet, [], "InUseSubnetCannotBeDeleted")

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        subnets = {lower(subnet["id"]): subnet for subnet in view["properties"].get("subnets") or []}
        configs: dict[str, list[dict[str, str]]] = {}
        endpoints: dict[str, list[dict[str, str]]] = {}
        for doc in arm.of_type(NIC, VMSS_NIC, PE):  # one pass, whatever the number of subnets
            if doc["type"] in (NIC, VMSS_NIC):
                for holder_path, holder in _holders_with_ids(doc):
                    configs.setdefault(lower(holder["subnet"]["id"]), []).append({"id": holder_path})
            elif doc["type"] == PE:
                endpoints.setdefault(lower(doc["properties"].get("subnet", {}).get("id", "")), []).append({"id": doc["id"]})
        for key, subnet in subnets.items():
            if key in configs:
                subnet["properties"]["ipConfigurations"] = configs[key]
            if key in endpoints:
                subnet["properties"]["privateEndpoints"] = endpoints[key]


def _holders_with_ids(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (cfg["id"], cfg["properties"])
        for cfg in doc.get("properties", {}).get("ipConfigurations") or []
        if isinstance(cfg.get("properties", {}).get("subnet"), dict) and "id" in cfg
    ]


class Subnet(EmbeddedKind):
    type = f"{VNET}/subnets"
    parent_type = VNET
    collection = "subnets"
    in_use_code = "InUseSubnetCannotBeDeleted"


# --- network security groups ----------------------------------------------------------------------------

_DEFAULT_RULES = [
    ("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    ("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
]


class NetworkSecurityGroup(Kind):
    type = NSG
    serialize_writes = True
    collections = {"securityRules": ()}
    read_only = ("defaultSecurityRules", "networkInterfaces", "subnets", "flowLogs")
    has_resource_guid = True
    in_use_code = "InUseNetworkSecurityGroupCannotBeDeleted"

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        seen = set()
        for rule in doc["properties"].get("securityRules") or []:
            p = rule["properties"]
            missing = [key for key in ("protocol", "access", "direction") if not p.get(key)]
            if missing:
                # Azure's code and wording (hashicorp/terraform-provider-azurerm users quote it, e.g.
                # Azure/sap-hana#135); which members it lists: UNCONFIRMED.
                raise bad_request("SecurityRuleParametersMissing",
                                  f"Required security rule parameters are missing for security rule with Id: "
                                  f"{rule['id']}. Security rule must specify {', '.join(missing)}.")
            priority, direction = p.get("priority"), p.get("direction")
            if not isinstance(priority, int) or not 100 <= priority <= 4096:
                raise bad_request("SecurityRuleInvalidPriority",
                                  f"Security rule {rule['name']} has invalid priority {priority}. Value provided: "
                                  f"{priority} Allowed range 100-4096.")
            if (direction, priority) in seen:
                raise bad_request("SecurityRuleConflict",
                                  f"Security rule {rule['name']} conflicts with another rule: same priority and "
                                  "direction.")
            seen.add((direction, priority))

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        view["properties"]["defaultSecurityRules"] = [
            {"name": name, "id": f"{view['id']}/defaultSecurityRules/{name}",
             "properties": {"direction": d, "priority": prio, "access": access, "protocol": "*",
                            "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "sourcePortRange": "*",
                            "destinationPortRange": "*", "provisioningState": "Succeeded"}}
            for name, d, prio, access, src, dst in _DEFAULT_RULES
        ]
        subnets = [ref for _doc, ref in arm.referrers(view["id"], types=(VNET,))]
        if subnets:
            view["properties"]["subnets"] = [{"id": ref.rsplit("/networkSecurityGroup", 1)[0]} for ref in subnets]


class SecurityRule(EmbeddedKind):
    type = f"{NSG}/securityRules"
    parent_type = NSG
    collection = "securityRules"


# --- public IP addresses --------------------------------------------------------------------------------


class PublicIPAddress(Kind):
    type = PIP
    serialize_writes = True
    read_only = ("ipAddress", "ipConfiguration")
    has_resource_guid = True
    in_use_code = "PublicIPAddressCannotBeDeleted"

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        sku = doc.setdefault("sku", {"name": "Standard", "tier": "Regional"})
        props = doc["properties"]
        method = props.setdefault("publicIPAllocationMethod", "Static" if sku.get("name") == "Standard" else "Dynamic")
        if sku.get("name") == "Standard" and method != "Static":
            raise bad_request("StandardSkuPublicIPAddressesMustBeStatic",  # UNCONFIRMED exact code
                              f"Standard sku publicIp {doc['id']} must have AllocationMethod set to Static.")
        props.setdefault("publicIPAddressVersion", "IPv4")
        if "_ip" not in doc:  # kept across updates (build() carries `_` keys over)
            n = arm.next_id()
            doc["_ip"] = f"20.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        doc = arm.get_doc(view["id"])
        if doc and doc.get("_ip"):
            view["properties"]["ipAddress"] = doc["_ip"]
        users = arm.referrers(view["id"])
        if users:
            view["properties"]["ipConfiguration"] = {"id": users[0][1].rsplit("/publicIPAddress", 1)[0]}
            owner = users[0][0]
            for fe in owner["properties"].get("frontendIPConfigurations") or []:
                if lower(fe.get("properties", {}).get("publicIPAddress", {}).get("id", "")) == lower(view["id"]):
                    view["properties"]["ipConfiguration"] = {"id": fe["id"]}


# --- network interfaces ---------------------------------------------------------------------------------


class NetworkInterface(Kind):
    type = NIC
    serialize_writes = True
    collections = {"ipConfigurations": ("privateLinkConnectionProperties",)}
    read_only = ("macAddress", "virtualMachine", "privateEndpoint", "hostedWorkloads", "tapConfigurations",
                 "dscpConfiguration", "vnetEncryptionSupported", "primary")
    has_resource_guid = True
    in_use_code = "InUseNetworkInterfaceCannotBeDeleted"  # UNCONFIRMED exact code

    def write(self, arm: Arm, rid: str, body: dict[str, Any], headers: dict[str, str], patch: bool = False) -> tuple[bool, dict[str, Any]]:
        old = arm.get_doc(rid)
        if old and old.get("_managedBy"):
            # The NIC of a private endpoint belongs to the platform; it cannot be changed (so it cannot be
            # put into a load balancer backend pool either). UNCONFIRMED exact code.
            raise bad_request("OperationNotAllowed",
                              f"Network interface {rid} is managed by {old['_managedBy']} and cannot be modified.")
        return super().write(arm, rid, body, headers, patch)

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        if doc.get("_managedBy"):
            raise bad_request("OperationNotAllowed",
                              f"Network interface {doc['id']} is managed by {doc['_managedBy']} and cannot be deleted.")
        super().check_delete(arm, doc)

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        configs = doc["properties"].get("ipConfigurations") or []
        if not configs:
            raise bad_request("NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                              f"Network interface {doc['id']} must have at least one IP configuration.")
        allocate_all(arm, doc, configs, (old or {}).get("properties", {}).get("ipConfigurations") or [])
        refuse_appgw_subnet(arm, doc)
        check_pool_members(arm, doc)


def check_pool_members(arm: Arm, nic: dict[str, Any]) -> None:
    """A NIC in a load balancer pool must be in that LB's region (generic) and not be a private endpoint's."""
    for cfg in nic["properties"].get("ipConfigurations") or []:
        for pool_id in _ref_ids(cfg.get("properties", {}).get("loadBalancerBackendAddressPools")):
            if nic.get("_managedBy"):
                raise pe_in_pool(pool_id, nic["id"])


def pe_in_pool(pool_id: str, what: str) -> ArmError:
    # Platform rule: a private endpoint cannot be a load balancer backend
    # (https://learn.microsoft.com/azure/private-link/private-endpoint-overview#limitations, "private endpoints
    # ... can't be used as backend of a load balancer"). INVENTED code: the real one was not found.
    return bad_request(
        "LoadBalancerBackendAddressPoolCannotReferencePrivateEndpoint",
        f"Backend address pool {pool_id} cannot contain {what}: it belongs to a private endpoint, and private "
        "endpoints cannot be load balancer backends.",
    )


class VmssNetworkInterface(Kind):
    """The NIC of a VMSS instance: created by Compute, read through Microsoft.Network on an old api-version."""

    type = VMSS_NIC
    api_versions = VMSS_NIC_API_VERSIONS
    collections = NetworkInterface.collections
    managed_message = "Network interfaces of scale set instances are managed through the scale set model."


class VmssNetworkInterfaceList(ListOnlyKind):
    """`GET .../virtualMachineScaleSets/{vmss}/networkInterfaces` (all instances' NICs)."""

    type = f"{VMSS}/networkInterfaces"
    api_versions = VMSS_NIC_API_VERSIONS

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        prefix = lower(scope) + "/virtualmachines/"
        kind = arm.kind(VMSS_NIC)
        return [kind.view(arm, d) for k, d in arm.resources.items() if d["type"] == VMSS_NIC and k.startswith(prefix)]


# --- load balancers -------------------------------------------------------------------------------------


class LoadBalancer(Kind):
    type = LB
    serialize_writes = True
    collections = {
        "frontendIPConfigurations": ("inboundNatRules", "inboundNatPools", "outboundRules", "loadBalancingRules"),
        "backendAddressPools": ("backendIPConfigurations", "loadBalancingRules", "outboundRule", "outboundRules",
                                "inboundNatRules"),
        "probes": ("loadBalancingRules",),
        "loadBalancingRules": (),
        "inboundNatRules": ("backendIPConfiguration",),
        "outboundRules": (),
    }
    has_resource_guid = True
    in_use_code = "InUseLoadBalancerCannotBeDeleted"  # INVENTED generic; VMSS users get the real code below

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        doc.setdefault("sku", {"name": "Basic", "tier": "Regional"})
        props = doc["properties"]
        allocate_all(arm, doc, props.get("frontendIPConfigurations") or [],
                     (old or {}).get("properties", {}).get("frontendIPConfigurations") or [])
        refuse_appgw_subnet(arm, doc)
        endpoint_ips = private_endpoint_ips(arm)
        ip_based = False
        for pool in props.get("backendAddressPools") or []:
            for address in pool["properties"].get("loadBalancerBackendAddresses") or []:
                ip = address.get("properties", {}).get("ipAddress")
                if ip:
                    ip_based = True
                if ip and ip in endpoint_ips:
                    raise pe_in_pool(pool["id"], f"IP address {ip} of {endpoint_ips[ip]}")
                nic_cfg = address.get("properties", {}).get("networkInterfaceIPConfiguration", {}).get("id")
                if nic_cfg and (nic := arm.owner_of(nic_cfg)) is not None and nic.get("_managedBy"):
                    raise pe_in_pool(pool["id"], nic["id"])
        if ip_based:
            for fe in props.get("frontendIPConfigurations") or []:
                users = [d for d, _ in arm.referrers(fe["id"]) if d["type"] == PLS]
                if users:
                    raise ip_based_lb_error(doc["id"])

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        users = arm.referrers(doc["id"], {lower(doc["id"])})
        for user, ref in users:
            if user["type"] in (VMSS, VMSS_NIC):
                vmss = user["id"].split("/virtualMachines/")[0]
                raise bad_request("LoadBalancerInUseByVirtualMachineScaleSet",
                                  f"Cannot delete load balancer {doc['id']} since its child resources {ref} are in "
                                  f"use by virtual machine scale set {vmss}.")
        for user, ref in users:
            code = "InUseLoadBalancerFrontendIPConfigurationCannotBeDeleted" if user["type"] == PLS else self.in_use_code
            raise bad_request(code, f"Load balancer {doc['id']} is in use by {user['id']} (through {ref}).")

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        for pool in view["properties"].get("backendAddressPools") or []:
            members = []
            for nic in arm.of_type(NIC, VMSS_NIC):
                for cfg in nic["properties"].get("ipConfigurations") or []:
                    pools = {lower(p) for p in _ref_ids(cfg.get("properties", {}).get("loadBalancerBackendAddressPools"))}
                    if lower(pool["id"]) in pools:
                        members.append({"id": cfg["id"]})
            if members:
                pool["properties"]["backendIPConfigurations"] = members


def private_endpoint_ips(arm: Arm) -> dict[str, str]:
    out = {}
    for nic in arm.of_type(NIC):
        if nic.get("_managedBy") and lower(nic["_managedBy"]).find("/privateendpoints/") >= 0:
            for cfg in nic["properties"].get("ipConfigurations") or []:
                if cfg["properties"].get("privateIPAddress"):
                    out[cfg["properties"]["privateIPAddress"]] = nic["_managedBy"]
    return out


def ip_based_lb_error(lb_id: str) -> ArmError:
    # Real code and wording (MicrosoftDocs/azure-docs#75134).
    return bad_request(
        "PrivateLinkServiceIsNotSupportedForIPBasedLoadBalancer",
        f"Private link service is not supported for load balancer {lb_id} with backend addresses set by "
        "(virtualNetwork, ipAddress) or (subnet, ipAddress).",
    )


def _lb_child(name: str, code: str = "InUseLoadBalancerChildCannotBeDeleted") -> type[EmbeddedKind]:
    return type(f"LoadBalancer_{name}", (EmbeddedKind,), {
        "type": f"{LB}/{name}", "parent_type": LB, "collection": name, "in_use_code": code,
    })


# A frontend that a Private Link Service uses cannot be removed (INVENTED code; the rule: a PLS is bound to
# its LB frontend, https://learn.microsoft.com/azure/private-link/private-link-service-overview#limitations).
LoadBalancerFrontend = _lb_child("frontendIPConfigurations", "InUseLoadBalancerFrontendIPConfigurationCannotBeDeleted")
LoadBalancerPool = _lb_child("backendAddressPools")
LoadBalancerProbe = _lb_child("probes")
LoadBalancerRule = _lb_child("loadBalancingRules")


# --- private link services ------------------------------------------------------------------------------


class PrivateLinkService(Kind):
    type = PLS
    serialize_writes = True
    collections = {"ipConfigurations": ()}
    read_only = ("alias", "networkInterfaces", "privateEndpointConnections")

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        frontends = _ref_ids(props.get("loadBalancerFrontendIpConfigurations"))
        if not frontends:
            raise bad_request("PrivateLinkServiceMustHaveLoadBalancerFrontendIpConfiguration",  # UNCONFIRMED code
                              f"Private link service {doc['id']} must reference a load balancer frontend IP configuration.")
        for fe_id in frontends:
            lb = arm.owner_of(fe_id)
            if lb is None or lb["type"] != LB:
                raise arm.invalid_reference(fe_id, doc["id"])
            # Standard LB only, NIC-based backend pools only
            # (https://learn.microsoft.com/azure/private-link/private-link-service-overview#limitations).
            if lb.get("sku", {}).get("name") != "Standard":
                raise bad_request("PrivateLinkServiceNotSupportedOnBasicLoadBalancer",  # INVENTED code
                                  f"Private link service {doc['id']} requires a Standard load balancer; {lb['id']} is Basic.")
            for pool in lb["properties"].get("backendAddressPools") or []:
                if any(a.get("properties", {}).get("ipAddress") for a in pool["properties"].get("loadBalancerBackendAddresses") or []):
                    raise ip_based_lb_error(lb["id"])
        configs = props.get("ipConfigurations") or []
        # "After you add multiple NAT IP addresses to a Private Link service, you can't delete the NAT IP
        # addresses. This is done to ensure that active connections are not impacted"
        # (https://learn.microsoft.com/azure/private-link/private-link-service-overview#details).
        # INVENTED code: the real one was not found in public sources.
        kept = {c["name"].lower() for c in configs}
        for old_cfg in (old or {}).get("properties", {}).get("ipConfigurations") or []:
            if old_cfg["name"].lower() not in kept:
                raise bad_request(
                    "PrivateLinkServiceIpConfigurationCannotBeDeleted",
                    f"IP configuration {old_cfg['name']} of private link service {doc['id']} cannot be removed: NAT IP "
                    "configurations of a private link service cannot be deleted once added.",
                )
        # At most 8 NAT IPs (same page, "Limitations").
        if not 1 <= len(configs) <= 8:
            raise bad_request("PrivateLinkServiceIpConfigurationCountOutOfRange",  # INVENTED code
                              f"Private link service {doc['id']} needs between 1 and 8 IP configurations, got {len(configs)}.")
        for cfg in configs:
            subnet_id = cfg["properties"].get("subnet", {}).get("id")
            subnet = arm.resolve(subnet_id) if subnet_id else None
            if subnet is None:
                raise arm.invalid_reference(str(subnet_id), doc["id"])
            # https://learn.microsoft.com/azure/private-link/disable-private-link-service-network-policy
            if subnet["properties"].get("privateLinkServiceNetworkPolicies", "Enabled") != "Disabled":
                raise bad_request(
                    "PrivateLinkServiceCannotBeCreatedInSubnetThatHasNetworkPoliciesEnabled",
                    f"Private link service {doc['id']} cannot be created in subnet {subnet_id} since it has private "
                    "link service network policies enabled.",
                )
        allocate_all(arm, doc, configs, (old or {}).get("properties", {}).get("ipConfigurations") or [])
        refuse_appgw_subnet(arm, doc)
        props.setdefault("visibility", {"subscriptions": []})
        props.setdefault("autoApproval", {"subscriptions": []})
        props.setdefault("fqdns", [])
        props.setdefault("enableProxyProtocol", False)
        old_alias = (old or {}).get("properties", {}).get("alias")
        props["alias"] = old_alias or f"{doc['name']}.{uuid.uuid4()}.{doc['location']}.azure.privatelinkservice"

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        # "Before you delete the service, ensure that there are no private endpoint connections associated
        # with it. You can reject all connections and delete the service."
        # (https://learn.microsoft.com/azure/private-link/private-link-service-overview#delete-your-service)
        active = [lk for lk in pl.links_of_target(arm, doc["id"]) if lk["status"] in ("Pending", "Approved")]
        if active:
            raise bad_request(
                # Azure's code, as quoted in MicrosoftDocs SupportArticles
                # "cannot-delete-load-balancer-private-link-service".
                "PrivateLinkServiceWithPrivateEndpointConnectionsCannotBeDeleted",
                f"Private link service {doc['id']} has {len(active)} pending or approved private endpoint "
                "connections; reject or delete them first.",
            )
        super().check_delete(arm, doc)

    def after_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        pl.drop_links(arm, target_id=doc["id"])

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        view["properties"]["privateEndpointConnections"] = [
            pl.connection_view(lk, PLS) for lk in pl.links_of_target(arm, view["id"])
        ]


class TargetConnections(Kind):
    """`<PLS or App GW>/privateEndpointConnections/{name}`: the owner's view; approve/reject by PUT."""

    parent_type = PLS
    lro = False
    requires_location = False

    def _link(self, arm: Arm, rid: str) -> dict[str, Any]:
        arm.check_parent(rid)
        link = arm.links.get(lower(rid))
        if link is None:
            raise not_found(rid, self.type)
        return link

    def get(self, arm: Arm, rid: str) -> Response:
        return Response(200, pl.connection_view(self._link(arm, rid), self.parent_type))

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        if arm.get_doc(scope) is None:
            raise not_found(scope, self.parent_type)
        return [pl.connection_view(lk, self.parent_type) for lk in pl.links_of_target(arm, scope)]

    def _parent_operation(self, arm: Arm, rid: str) -> Response:
        """A connection change that is an LRO updates its parent (the App Gateway): refused while the parent's
        own operation is in flight, and it puts the parent in `Updating` until it completes."""
        parsed = ResourceId.parse(rid)
        assert parsed and parsed.parent
        parent = arm.get_doc(parsed.parent)
        if parent is not None and parent["properties"].get("provisioningState") != "Deleting":
            parent["properties"]["provisioningState"] = "Updating"
        op = arm.start_operation(parsed.parent, self.parent_type, "put", (parent or {}).get("location"))
        return Response(202, None, arm.lro_headers(op))

    def _check_parent_free(self, arm: Arm, rid: str) -> None:
        parsed = ResourceId.parse(rid)
        assert parsed and parsed.parent
        arm.refuse_if_locked(arm.kind(self.parent_type), arm.get_doc(parsed.parent), "PUT")

    def put(self, arm: Arm, rid: str, body: Any, headers: dict[str, str], patch: bool = False) -> Response:
        link = self._link(arm, rid)
        state = (body or {}).get("properties", {}).get("privateLinkServiceConnectionState") or {}
        if self.lro:
            self._check_parent_free(arm, rid)
        pl.set_state(arm, link, state)
        if not self.lro:
            return Response(200, pl.connection_view(link, self.parent_type))
        started = self._parent_operation(arm, rid)
        return Response(200, pl.connection_view(link, self.parent_type), started.headers)

    def delete(self, arm: Arm, rid: str, headers: dict[str, str]) -> Response:
        link = arm.links.get(lower(rid))
        if link is None:
            return Response(204)
        self._check_parent_free(arm, rid)
        del arm.links[lower(rid)]
        return self._parent_operation(arm, rid)


class PlsConnection(TargetConnections):
    # PLS connection update is synchronous (`update_private_endpoint_connection`, 200)
    type = f"{PLS}/privateEndpointConnections"
    parent_type = PLS
    lro = False


class AppGwConnection(TargetConnections):
    # App Gateway connection update is an LRO (`application_gateway_private_endpoint_connections.begin_update`)
    type = f"{APPGW}/privateEndpointConnections"
    parent_type = APPGW
    lro = True


# --- private endpoints ----------------------------------------------------------------------------------


class PrivateEndpoint(Kind):
    type = PE
    serialize_writes = True
    collections = {
        "manualPrivateLinkServiceConnections": ("privateLinkServiceConnectionState",),
        "privateLinkServiceConnections": ("privateLinkServiceConnectionState",),
        "ipConfigurations": (),
    }
    read_only = ("networkInterfaces",)

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        subnet_id = props.get("subnet", {}).get("id")
        if not subnet_id:
            raise bad_request("PrivateEndpointSubnetRequired", f"Private endpoint {doc['id']} needs a subnet.")  # UNCONFIRMED
        # PE region == VNet region is enforced by the generic reference check (InvalidResourceReference,
        # "...both resources are in the same region"). privateEndpointNetworkPolicies may be Enabled: since
        # 2023 NSGs and UDRs apply to private endpoints when it is (no longer a creation blocker).
        refuse_appgw_subnet(arm, {"id": doc["id"], "properties": {"x": {"subnet": {"id": subnet_id}}}})
        connections = [(c, True) for c in props.get("manualPrivateLinkServiceConnections") or []]
        connections += [(c, False) for c in props.get("privateLinkServiceConnections") or []]
        if len(connections) != 1:
            raise bad_request("PrivateEndpointMustHaveExactlyOneConnection",  # UNCONFIRMED code
                              f"Private endpoint {doc['id']} must have exactly one private link service connection.")
        sub = ResourceId.parse(doc["id"]).subscription  # type: ignore[union-attr]
        for conn, _manual in connections:
            cp = conn["properties"]
            target = cp.get("privateLinkServiceId")
            if not target:
                raise bad_request("InvalidRequestFormat", "privateLinkServiceId is required.")
            if len(cp.get("requestMessage") or "") > 140:
                raise bad_request("PrivateEndpointRequestMessageTooLong",  # UNCONFIRMED code; limit in the spec
                                  "requestMessage is restricted to 140 characters.")
            kind, canonical, _ = pl.resolve_target(arm, target, cp.get("groupIds") or [], sub, doc["id"])
            old_conn = None
            for coll in ("manualPrivateLinkServiceConnections", "privateLinkServiceConnections"):
                old_conn = old_conn or find_named((old or {}).get("properties", {}).get(coll), conn["name"])
            if old_conn and lower(old_conn["properties"].get("privateLinkServiceId", "")) != lower(target):
                raise bad_request("CannotChangePrivateLinkServiceConnectionTarget",  # UNCONFIRMED code
                                  f"The target of private endpoint connection {conn['name']} cannot be changed.")
            conn["_target"] = (kind, canonical)

    def after_write(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        nic_id = (old or {}).get("properties", {}).get("networkInterfaces", [{}])[0].get("id")
        if nic_id is None or arm.get_doc(nic_id) is None:
            nic_id = self._create_nic(arm, doc)
        props["networkInterfaces"] = [{"id": nic_id}]
        for coll, manual in (("manualPrivateLinkServiceConnections", True), ("privateLinkServiceConnections", False)):
            for conn in props.get(coll) or []:
                kind, canonical = conn.pop("_target")
                if pl.link_of_endpoint(arm, doc["id"], conn["name"]) is None:
                    target_doc = arm.get_doc(canonical) if kind != "confluent" else None
                    pl.create_link(arm, kind, canonical, target_doc, doc["id"], conn["name"],
                                   conn["properties"].get("groupIds") or [], conn["properties"].get("requestMessage") or "",
                                   manual)

    def _create_nic(self, arm: Arm, doc: dict[str, Any]) -> str:
        props = doc["properties"]
        parsed = ResourceId.parse(doc["id"])
        assert parsed
        name = props.get("customNetworkInterfaceName") or f"{doc['name']}.nic.{uuid.uuid4()}"
        nic_id = f"/subscriptions/{parsed.subscription}/resourceGroups/{parsed.resource_group}/providers/{NIC}/{name}"
        static = (props.get("ipConfigurations") or [None])[0]
        cfg_props: dict[str, Any] = {"subnet": {"id": props["subnet"]["id"]}, "primary": True}
        if static and static["properties"].get("privateIPAddress"):
            cfg_props.update(privateIPAllocationMethod="Static", privateIPAddress=static["properties"]["privateIPAddress"])
        allocate(arm, nic_id, cfg_props, None, set())
        cfg_props["privateIPAllocationMethod"] = "Dynamic"  # Azure reports PE NIC addresses as Dynamic
        conn = (props.get("manualPrivateLinkServiceConnections") or props.get("privateLinkServiceConnections"))[0]
        cfg_name = f"privateEndpointIpConfig.{uuid.uuid4()}"
        cfg_props["privateLinkConnectionProperties"] = {
            "groupId": (conn["properties"].get("groupIds") or [""])[0], "requiredMemberName": "", "fqdns": [],
        }
        arm.resources[lower(nic_id)] = {
            "id": nic_id, "name": name, "type": NIC, "location": doc["location"], "etag": new_etag(),
            "_managedBy": doc["id"],
            "properties": {
                "provisioningState": "Succeeded", "resourceGuid": str(uuid.uuid4()),
                "ipConfigurations": [{"name": cfg_name, "id": f"{nic_id}/ipConfigurations/{cfg_name}",
                                      "type": f"{NIC}/ipConfigurations", "properties": cfg_props}],
                "privateEndpoint": {"id": doc["id"]},
                "nicType": "Standard",
            },
        }
        return nic_id

    def cascade(self, arm: Arm, doc: dict[str, Any]) -> list[str]:
        return _ref_ids(doc["properties"].get("networkInterfaces"))

    def after_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        pl.drop_links(arm, endpoint_id=doc["id"])

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        for coll in ("manualPrivateLinkServiceConnections", "privateLinkServiceConnections"):
            for conn in view["properties"].get(coll) or []:
                conn["properties"]["privateLinkServiceConnectionState"] = pl.connection_state(arm, view["id"], conn["name"])
        view["properties"].setdefault("customDnsConfigs", [])


# --- application gateways -------------------------------------------------------------------------------

_V2 = {"Standard_v2", "WAF_v2", "Basic"}
# Private Link and TCP/TLS proxy (L4 `listeners`): Standard_v2 and WAF_v2 only. The v2-family Basic SKU
# (preview) lists both under "Functionality - advanced" as not supported
# (https://learn.microsoft.com/azure/application-gateway/overview-v2#sku-types), and v1 has neither.
_ADVANCED = {"Standard_v2", "WAF_v2"}
# v2 gateways need inbound TCP 65200-65535 from GatewayManager on their subnet
# (https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#network-security-groups).
_V2_INFRA_PORTS = (65200, 65535)
_GATEWAY_MANAGER_SOURCES = {"*", "any", "internet", "gatewaymanager"}  # GatewayManager addresses are Internet


def _port_ranges(props: dict[str, Any]) -> list[tuple[int, int]]:
    ranges = []
    for text in [props.get("destinationPortRange"), *(props.get("destinationPortRanges") or [])]:
        if not text:
            continue
        if str(text).strip() in ("*", "Any", "any"):
            ranges.append((0, 65535))
            continue
        lo, _, hi = str(text).partition("-")
        try:
            ranges.append((int(lo), int(hi or lo)))
        except ValueError:
            continue
    return ranges


def _destination_matches(props: dict[str, Any], subnet: dict[str, Any]) -> bool:
    prefixes = [props.get("destinationAddressPrefix"), *(props.get("destinationAddressPrefixes") or [])]
    for prefix in (p for p in prefixes if p):
        if str(prefix).lower() in ("*", "any", "virtualnetwork"):
            return True
        try:
            net = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError:
            continue
        if any(net.overlaps(s) for s in subnet_networks(subnet)):
            return True
    return False


def gateway_manager_blocked(nsg: dict[str, Any], subnet: dict[str, Any]) -> bool:
    """Whether the NSG leaves any of TCP 65200-65535 from GatewayManager to the subnet denied (explicitly,
    or by the default DenyAllInBound), evaluating inbound rules by priority as NSGs do."""
    lo, hi = _V2_INFRA_PORTS
    undecided = [(lo, hi)]
    rules = sorted(
        (r["properties"] for r in nsg["properties"].get("securityRules") or []
         if r.get("properties", {}).get("direction") == "Inbound"),
        key=lambda p: p.get("priority", 4096),
    )
    for props in rules:
        if str(props.get("protocol", "*")).lower() not in ("*", "tcp"):
            continue
        sources = [props.get("sourceAddressPrefix"), *(props.get("sourceAddressPrefixes") or [])]
        if not any(str(src).lower() in _GATEWAY_MANAGER_SOURCES for src in sources if src):
            continue
        if not _destination_matches(props, subnet):
            continue
        for r_lo, r_hi in _port_ranges(props):
            hit = [(max(a, r_lo), min(b, r_hi)) for a, b in undecided if max(a, r_lo) <= min(b, r_hi)]
            if not hit:
                continue
            if props.get("access") == "Deny":
                return True
            rest = []
            for a, b in undecided:
                if b < r_lo or a > r_hi:
                    rest.append((a, b))
                    continue
                if a < r_lo:
                    rest.append((a, r_lo - 1))
                if b > r_hi:
                    rest.append((r_hi + 1, b))
            undecided = rest
        if not undecided:
            return False
    return True  # what is left meets the default rules: neither Allow default matches GatewayManager


def refuse_blocked_gateway_subnet(arm: Arm, doc: dict[str, Any], subnet_id: str) -> None:
    subnet = arm.resolve(subnet_id)
    nsg_id = ((subnet or {}).get("properties", {}).get("networkSecurityGroup") or {}).get("id")
    nsg = arm.get_doc(nsg_id) if nsg_id else None
    if subnet is None or nsg is None or not gateway_manager_blocked(nsg, subnet):
        return
    # Azure's code and wording (seen in Azure/AKS-Construction#333, mspnp/aks-baseline#284,
    # Azure/terraform-azurerm-avm-ptn-aiml-landing-zone#16).
    raise bad_request(
        "ApplicationGatewaySubnetInboundTrafficBlockedByNetworkSecurityGroup",
        f"Network security group {nsg['id']} blocks incoming internet traffic on ports 65200 - 65535 to subnet "
        f"{subnet_id}, associated with Application Gateway {doc['id']}. This is not permitted for Application "
        "Gateways that have V2 Sku.",
    )


class ApplicationGateway(Kind):
    type = APPGW
    serialize_writes = True
    collections = {name: () for name in (
        "gatewayIPConfigurations", "frontendIPConfigurations", "frontendPorts", "backendAddressPools",
        "backendHttpSettingsCollection", "httpListeners", "requestRoutingRules", "probes", "listeners",
        "backendSettingsCollection", "routingRules", "privateLinkConfigurations", "sslCertificates",
        "trustedRootCertificates", "sslProfiles", "urlPathMaps", "rewriteRuleSets", "redirectConfigurations",
    )}
    collections["backendAddressPools"] = ("backendIPConfigurations",)
    read_only = ("operationalState", "privateEndpointConnections", "defaultPredefinedSslPolicy")
    has_resource_guid = True

    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        props = doc["properties"]
        sku = props.get("sku") or {}
        v2 = sku.get("name") in _V2
        if v2:
            # Azure fills in the compute generation it chose, whatever the client sent or left out
            # (MicrosoftDocs/azure-docs#128504; Azure/bicep#15190): a client must not read it as drift.
            sku["family"] = "Generation_1"
        gw_cfgs = props.get("gatewayIPConfigurations") or []
        if len(gw_cfgs) != 1:
            raise bad_request("ApplicationGatewayMustHaveOneGatewayIpConfiguration",  # UNCONFIRMED code
                              f"Application gateway {doc['id']} needs exactly one gateway IP configuration.")
        gw_subnet = gw_cfgs[0]["properties"].get("subnet", {}).get("id", "")
        if sku.get("name") not in _ADVANCED and (props.get("privateLinkConfigurations") or props.get("listeners")):
            # Private link and TCP/TLS (L4) listeners: Standard_v2/WAF_v2 only, not v1 and not the v2 Basic
            # SKU (see _ADVANCED). INVENTED code.
            raise bad_request("ApplicationGatewayFeatureRequiresV2Sku",
                              f"Private link configurations and TCP/TLS listeners need SKU Standard_v2 or WAF_v2; "
                              f"{doc['id']} is {sku.get('name')}.")
        if v2 and gw_subnet:
            refuse_blocked_gateway_subnet(arm, doc, gw_subnet)
        fronts = props.get("frontendIPConfigurations") or []
        # v2 needs a public frontend IP (private-only deployment is a separate preview feature):
        # https://learn.microsoft.com/azure/application-gateway/application-gateway-private-deployment
        if v2 and not any(f["properties"].get("publicIPAddress") for f in fronts):
            raise bad_request("ApplicationGatewayV2SkuRequiresPublicFrontendIpConfiguration",  # INVENTED code
                              f"Application gateway {doc['id']} with SKU {sku.get('name')} needs a public frontend IP "
                              "configuration.")
        for fe in fronts:
            fp = fe["properties"]
            if fp.get("subnet"):
                if v2 and fp.get("privateIPAllocationMethod", "Dynamic") != "Static":
                    # https://learn.microsoft.com/azure/application-gateway/configuration-frontend-ip
                    # ("static private IP address" for v2). UNCONFIRMED code.
                    raise bad_request("ApplicationGatewayPrivateIpMustBeStatic",
                                      f"Private frontend IP configuration {fe['id']} of a v2 gateway must use Static "
                                      "allocation.")
                if lower(fp["subnet"]["id"]) != lower(gw_subnet):
                    raise bad_request("ApplicationGatewayFrontendIpConfigurationSubnetMustMatch",  # UNCONFIRMED
                                      f"Private frontend {fe['id']} must be in the gateway subnet {gw_subnet}.")
        allocate_all(arm, doc, fronts, (old or {}).get("properties", {}).get("frontendIPConfigurations") or [],
                     address_version=False)
        for plc in props.get("privateLinkConfigurations") or []:
            cfgs = plc["properties"].get("ipConfigurations") or []
            # https://learn.microsoft.com/azure/application-gateway/private-link-configure: up to 8 IPs,
            # Dynamic only, in a subnet other than the gateway's. INVENTED codes.
            if not 1 <= len(cfgs) <= 8:
                raise bad_request("ApplicationGatewayPrivateLinkIpConfigurationCountOutOfRange",
                                  f"Private link configuration {plc['id']} needs between 1 and 8 IP configurations.")
            for cfg in cfgs:
                cp = cfg.get("properties", {})
                if cp.get("privateIPAllocationMethod", "Dynamic") != "Dynamic":
                    raise bad_request("ApplicationGatewayPrivateLinkIpConfigurationMustBeDynamic",
                                      f"IP configuration {cfg['name']} of {plc['id']} must use Dynamic allocation.")
                if lower(cp.get("subnet", {}).get("id", "")) == lower(gw_subnet):
                    raise bad_request("ApplicationGatewayPrivateLinkSubnetCannotBeGatewaySubnet",
                                      f"Private link configuration {plc['id']} cannot use the gateway subnet {gw_subnet}.")
                cfg["id"] = f"{plc['id']}/ipConfigurations/{cfg['name']}"
            old_plc = find_named((old or {}).get("properties", {}).get("privateLinkConfigurations"), plc["name"])
            allocate_all(arm, doc, cfgs, (old_plc or {}).get("properties", {}).get("ipConfigurations") or [],
                         address_version=False)
        for listener in props.get("listeners") or []:
            if listener["properties"].get("protocol") not in ("Tcp", "Tls"):
                raise bad_request("ApplicationGatewayListenerProtocolInvalid",  # UNCONFIRMED code
                                  f"Listener {listener['name']} must use protocol Tcp or Tls.")
        for listener in props.get("httpListeners") or []:
            if listener["properties"].get("protocol") not in ("Http", "Https"):
                raise bad_request("ApplicationGatewayHttpListenerProtocolInvalid",  # UNCONFIRMED code
                                  f"HTTP listener {listener['name']} must use protocol Http or Https.")
        # Nothing else may sit in the gateway subnet.
        for other in arm.resources.values():
            if lower(other["id"]) == lower(doc["id"]) or other["type"] == APPGW:
                continue
            for holder in ip_holders(other.get("properties")):
                if lower(holder["subnet"]["id"]) == lower(gw_subnet):
                    raise bad_request("ApplicationGatewaySubnetCannotBeUsedByOtherResources",  # UNCONFIRMED code
                                      f"Subnet {gw_subnet} is used by {other['id']}; an application gateway needs a "
                                      "dedicated subnet.")
        props["operationalState"] = "Running"

    def after_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        pl.drop_links(arm, target_id=doc["id"])

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        view["properties"]["privateEndpointConnections"] = [
            pl.connection_view(lk, APPGW) for lk in pl.links_of_target(arm, view["id"])
        ]

    def _backend_health(self, arm: Arm, doc: dict[str, Any], body: dict[str, Any]) -> Response:
        """`POST .../backendhealth`: a long-running operation (202, `Location` and `Retry-After`, the only
        headers the spec declares for it) whose result is `ApplicationGatewayBackendHealth`, probed when
        the operation completes."""
        op = arm.start_operation(doc["id"], APPGW, READ_ACTION, doc.get("location"),
                                 finish=lambda: backend_health(arm, doc))
        headers = arm.lro_headers(op)
        return Response(202, None, {k: v for k, v in headers.items() if k in ("Location", "Retry-After")})

    actions = {
        "backendhealth": lambda kind, arm, doc, body: kind._backend_health(arm, doc, body),
    }


# healthProbeLog texts. UNCONFIRMED wording, after the messages Azure documents for TCP/TLS backends
# (learn.microsoft.com/azure/application-gateway/application-gateway-backend-health-troubleshooting).
_PROBE_UP = "Success. Received 200 status code"
_PROBE_NO_CONNECT = ("Cannot connect to backend server. Check whether any NSG/UDR/Firewall is blocking access "
                     "to the server. Check if application is running on correct port.")
_PROBE_TIMEOUT = "Time taken by the backend to respond to application gateway's probe is more than the timeout threshold."


def backend_address_health(arm: Arm, address: str, port: int) -> tuple[str, str | None]:
    """What the gateway's probe finds at `address:port`: the data plane's probe when one is plugged in
    (`Arm.backend_probe`), else the ARM state: a private endpoint's IP whose connection is Approved and
    whose Confluent zone answers is Up; anything else Down (nothing there, or nothing answering)."""
    if arm.backend_probe is not None:
        return arm.backend_probe(address, port)
    endpoint_id = private_endpoint_ips(arm).get(address)
    endpoint = arm.get_doc(endpoint_id) if endpoint_id else None
    if endpoint is None:
        return "Down", _PROBE_NO_CONNECT
    connections = [*(endpoint["properties"].get("manualPrivateLinkServiceConnections") or []),
                   *(endpoint["properties"].get("privateLinkServiceConnections") or [])]
    for connection in connections:
        state = pl.connection_state(arm, endpoint["id"], connection["name"])
        if state["status"] != "Approved":
            return "Down", _PROBE_NO_CONNECT
        target = str(connection.get("properties", {}).get("privateLinkServiceId", ""))
        if target.lower() in arm.confluent_silent:
            return "Down", _PROBE_TIMEOUT
    return "Up", _PROBE_UP


def backend_health(arm: Arm, doc: dict[str, Any]) -> dict[str, Any]:
    """`ApplicationGatewayBackendHealth` for the gateway as it is now: per pool, per backend setting the
    routing rules use with it (L4 `backendSettingsCollection`, else HTTP settings), each address probed."""
    props = doc["properties"]
    settings = {lower(s["id"]): s for s in [*(props.get("backendSettingsCollection") or []),
                                             *(props.get("backendHttpSettingsCollection") or [])]}
    used: dict[str, list[str]] = {}
    for rule in [*(props.get("routingRules") or []), *(props.get("requestRoutingRules") or [])]:
        rp = rule.get("properties") or {}
        pool_id = lower((rp.get("backendAddressPool") or {}).get("id", ""))
        setting_id = lower((rp.get("backendSettings") or rp.get("backendHttpSettings") or {}).get("id", ""))
        if pool_id and setting_id in settings and setting_id not in used.setdefault(pool_id, []):
            used[pool_id].append(setting_id)
    pools = []
    for pool in props.get("backendAddressPools") or []:
        entries = []
        for setting_id in used.get(lower(pool["id"]), []):
            setting = settings[setting_id]
            port = int((setting.get("properties") or {}).get("port") or 0)
            servers = []
            for backend in (pool.get("properties") or {}).get("backendAddresses") or []:
                address = backend.get("ipAddress") or backend.get("fqdn")
                if not address:
                    continue
                health, log = backend_address_health(arm, str(address), port)
                server = {"address": str(address), "health": health}
                if log:
                    server["healthProbeLog"] = log
                servers.append(server)
            entries.append({"backendHttpSettings": {"id": setting["id"]}, "servers": servers})
        pools.append({"backendAddressPool": {"id": pool["id"]}, "backendHttpSettingsCollection": entries})
    return {"backendAddressPools": pools}


class AppGwPrivateLinkResources(ListOnlyKind):
    """`GET .../applicationGateways/{gw}/privateLinkResources`: the group ids a private endpoint may use."""

    type = f"{APPGW}/privateLinkResources"

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        gw = arm.get_doc(scope)
        if gw is None:
            raise not_found(scope, APPGW)
        return [
            {"id": f"{gw['id']}/privateLinkResources/{name}", "name": name, "type": self.type,
             "properties": {"groupId": name, "requiredMembers": [name], "requiredZoneNames": []}}
            for name in pl.appgw_group_ids(gw)
        ]


def register(arm: Arm) -> None:
    arm.register(
        VirtualNetwork(), Subnet(), NetworkSecurityGroup(), SecurityRule(), PublicIPAddress(), NetworkInterface(),
        VmssNetworkInterface(), VmssNetworkInterfaceList(), LoadBalancer(), LoadBalancerFrontend(), LoadBalancerPool(),
        LoadBalancerProbe(), LoadBalancerRule(), PrivateLinkService(), PlsConnection(), PrivateEndpoint(),
        ApplicationGateway(), AppGwConnection(), AppGwPrivateLinkResources(),
    )

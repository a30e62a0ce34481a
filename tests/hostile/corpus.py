"""A corpus of hostile ConfluentPrivateLinks, ServerlessTransits and Secrets, generated from one table.

Every case says what `transit-operator plan` must do with it and what the cluster must do with it:

    plan     "refuse": exit 2 with `path` in the error; "accept": exit 0 (e.g. a host allowlist or a
             subnet's prefix is something only the running operator can check)
    cluster  "api": the API server refuses it (its message names `path`); nothing is stored
             "operator": stored; the operator refuses it (its Ready condition names `path`) with no cloud
             write at all
             "harmless": stored and accepted (pruned, defaulted, or simply valid); it may write in its own
             resource group, never anywhere else, and never shows a secret

Transits live in namespace `hostile` next to one valid ConfluentPrivateLink (`base`), each with its own
resource group `rg-h-<n>` and Databricks account, so that every write in the sandbox's request logs
belongs to exactly one case. Secrets carry canary values (`CANARY`), searched for in everything
observable afterwards. `tests/hostile/test_hostile_corpus.py` runs the whole corpus (CI);
`bench/hostile_inputs.py` prints the ratios.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "API_VERSION",
    "BASE_CPL",
    "CANARY",
    "CASES",
    "NAMESPACE",
    "NETWORK",
    "SUBSCRIPTION",
    "Case",
    "account_of",
    "cpl_document",
    "transit_document",
    "workspace_of",
]

API_VERSION = "transit.privatelink.io/v1alpha1"
NAMESPACE = "hostile"
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
LOCATION = "westeurope"
CANARY = "canary-5d1f0c9e7b2a4e31"  # appears in Secrets only; must appear nowhere else

_NET = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-h-network/providers/Microsoft.Network/virtualNetworks"
VNET = f"{_NET}/vnet-h"
NETWORK = {  # subnet name -> prefix, in VNET (the customer's network, made by the harness)
    "snet-pe": "10.50.1.0/24",
    "snet-transit": "10.50.2.0/24",
    "snet-pls": "10.50.3.0/24",
    "snet-appgw": "10.50.4.0/24",
    "snet-appgw-pl": "10.50.5.0/24",
}
DOMAIN = "n-hostile.westeurope.azure.confluent.cloud"
ALIAS = "s-h01.0b0b0b0b-2222-4222-8222-000000000001.westeurope.azure.privatelinkservice"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderKeyReplaceWithYourOwnPublicKey0000 ops@example.com"

Plan = Literal["refuse", "accept"]
Cluster = Literal["api", "operator", "harmless"]
Document = dict[str, Any] | bytes


def subnet(name: str) -> str:
    return f"{VNET}/subnets/{name}"


def account_of(index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"transit-hostile-{index}"))


def workspace_of(index: int) -> int:
    return 4_000_000_000_000_000 + index


def _cpl(name: str, resource_group: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ConfluentPrivateLink",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "azure": {"subscriptionId": SUBSCRIPTION, "resourceGroup": resource_group, "location": LOCATION},
            "confluent": {
                "networkId": "n-hostile",
                "dnsDomain": DOMAIN,
                "bootstrapServer": f"lkc-h.{DOMAIN}:9092",
                "zones": [{"name": "az1", "privateLinkServiceAlias": ALIAS}],
            },
            "privateEndpoints": {"subnetId": subnet("snet-pe")},
            "dns": {"virtualNetworkIds": [VNET]},
        },
    }


BASE_CPL = _cpl("base", "rg-h-base")


def cpl_document(name: str, resource_group: str) -> dict[str, Any]:
    """A valid ConfluentPrivateLink in the corpus' world."""
    return _cpl(name, resource_group)


def transit_document(name: str, index: int, option: str = "haproxy") -> dict[str, Any]:
    """A valid ServerlessTransit in the corpus' world: resource group `rg-h-<index>`, its own account."""
    return _transit(name, index, option)


def _transit(name: str, index: int, option: str = "haproxy") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "option": option,
        "confluentPrivateLinkRef": {"name": "base"},
        "azure": {"subscriptionId": SUBSCRIPTION, "resourceGroup": f"rg-h-{index}", "location": LOCATION},
        "databricks": {
            "accountId": account_of(index),
            "ncc": {"name": f"ncc-h{index}"},
            "workspaceIds": [workspace_of(index)],
        },
    }
    if option == "haproxy":
        spec["network"] = {"frontendSubnetId": subnet("snet-transit"), "privateLinkSubnetId": subnet("snet-pls")}
        spec["haproxy"] = {"instanceCount": 1, "vmSize": "Standard_B2s", "zones": ["1"], "sshPublicKey": SSH_KEY}
    else:
        spec["network"] = {"frontendSubnetId": subnet("snet-appgw"), "privateLinkSubnetId": subnet("snet-appgw-pl")}
        spec["applicationGateway"] = {"privateFrontendIp": "10.50.4.10"}
    return {"apiVersion": API_VERSION, "kind": "ServerlessTransit",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def _secret(name: str, *, data: dict[str, bytes] | None = None, string_data: dict[str, str] | None = None,
            raw_data: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NAMESPACE},
                           "type": "Opaque"}
    if data is not None:
        doc["data"] = {k: base64.b64encode(v).decode() for k, v in data.items()}
    if raw_data is not None:
        doc["data"] = raw_data
    if string_data is not None:
        doc["stringData"] = string_data
    return doc


_DELETE = object()


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`doc` with `path` (dots; list indices as numbers) set to `value` (or deleted)."""
    out = copy.deepcopy(doc)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return out


@dataclass(frozen=True)
class Case:
    """One hostile input (see the module docstring)."""

    id: str
    index: int
    documents: tuple[Document, ...]
    plan: Plan
    cluster: Cluster
    path: str  # what the refusal must name: a field path (or, for a Secret, its key)
    resource_groups: tuple[str, ...] = ()
    plan_path: str | None = None  # what `plan`'s refusal names, when not `path`
    account: str | None = None
    canary: bool = False  # a Secret of this case carries CANARY
    notes: str = ""

    @property
    def target(self) -> dict[str, Any] | None:
        """The CR whose status tells the operator's verdict (the last CR of the case)."""
        crs = [d for d in self.documents if isinstance(d, dict) and d.get("apiVersion") == API_VERSION]
        return crs[-1] if crs else None

    @property
    def refused(self) -> bool:
        return self.cluster in ("api", "operator")


_cases: list[Case] = []


def _name(case_id: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", case_id.lower()).strip("-")[:55].strip("-")


def transit_case(case_id: str, path: str, value: Any, plan: Plan, cluster: Cluster, *, option: str = "haproxy",
                 expect: str | None = None, secret: Callable[[str], dict[str, Any]] | None = None,
                 canary: bool = False, notes: str = "") -> None:
    """A transit with `path` set to `value` (`_DELETE` removes it); `expect`: the text its refusal names."""
    index = len(_cases) + 1
    name = _name(case_id)
    doc = _transit(name, index, option)
    if path:
        doc = _mutate(doc, path, value)
    documents: list[Document] = []
    if secret is not None:
        secret_name = f"dbx-{index}"
        doc["spec"]["databricks"]["credentialsSecretRef"] = {"name": secret_name}
        documents.append(secret(secret_name))
    documents.append(doc)
    _cases.append(Case(case_id, index, tuple(documents), plan, cluster, expect or path,
                       (f"rg-h-{index}",), None, account_of(index), canary, notes))


def cpl_case(case_id: str, path: str, value: Any, plan: Plan, cluster: Cluster, *, expect: str | None = None,
             notes: str = "") -> None:
    index = len(_cases) + 1
    doc = _mutate(_cpl(_name(case_id), f"rg-h-{index}"), path, value)
    _cases.append(Case(case_id, index, (doc,), plan, cluster, expect or path, (f"rg-h-{index}",), None, None, False,
                       notes))


def raw_case(case_id: str, text: bytes, plan: Plan, cluster: Cluster, expect: str, *, plan_expect: str | None = None,
             notes: str = "") -> None:
    index = len(_cases) + 1
    _cases.append(Case(case_id, index, (text,), plan, cluster, expect, (f"rg-h-{index}",), plan_expect, None,
                       False, notes))


def secret_case(case_id: str, secret: Callable[[str], dict[str, Any]], plan: Plan, cluster: Cluster, expect: str,
                *, notes: str = "") -> None:
    transit_case(case_id, "", None, plan, cluster, expect=expect, secret=secret, canary=True, notes=notes)


# --------------------------------------------------------------------------------------------------------
# A. JSON types, ranges, shapes: the API server refuses them, and so must `plan` (pydantic's lax mode would
#    coerce "2" to 2); nulls and integral floats the server accepts, `plan` accepts too
# --------------------------------------------------------------------------------------------------------
transit_case("string-for-port", "spec.ports", ["9092"], "refuse", "api", expect="spec.ports[0]")
transit_case("string-for-instance-count", "spec.haproxy.instanceCount", "2", "refuse", "api")
transit_case("string-for-boolean", "spec.databricks.reapproveRejected", "true", "refuse", "api")
transit_case("integer-for-string", "spec.azure.subscriptionId", 1234, "refuse", "api")
transit_case("integer-for-zone-string", "spec.haproxy.zones", [1], "refuse", "api", expect="spec.haproxy.zones[0]")
transit_case("workspace-id-over-int64", "spec.databricks.workspaceIds", [2**64], "refuse", "api",
             expect="spec.databricks.workspaceIds[0]")
transit_case("workspace-id-as-string", "spec.databricks.workspaceIds", ["4000000000000001"], "refuse", "api",
             expect="spec.databricks.workspaceIds[0]")
transit_case("workspace-id-zero", "spec.databricks.workspaceIds", [0], "refuse", "api",
             expect="spec.databricks.workspaceIds[0]")
transit_case("fractional-integer", "spec.haproxy.instanceCount", 1.5, "refuse", "api")
transit_case("drift-interval-below-minimum", "spec.driftCheckIntervalSeconds", 5, "refuse", "api")
transit_case("unknown-option", "spec.option", "nginx", "refuse", "api")
transit_case("option-block-missing", "spec.haproxy", _DELETE, "refuse", "operator", expect="spec")
transit_case("instance-count-zero", "spec.haproxy.instanceCount", 0, "refuse", "api")
transit_case("too-many-ports", "spec.ports", [1, 2, 3, 4, 5, 6, 7, 8, 9], "refuse", "api")
transit_case("duplicate-ports", "spec.ports", [9092, 9092], "refuse", "operator", expect="spec.ports")
transit_case("port-zero", "spec.ports", [0], "refuse", "api", expect="spec.ports[0]")
transit_case("spec-as-list", "spec", [1, 2], "refuse", "api")
transit_case("integral-float-is-an-integer", "spec.haproxy.instanceCount", 1.0, "accept", "harmless",
             notes="the API server decodes 1.0 as the integer 1")
transit_case("null-is-pruned-then-defaulted", "spec.ports", None, "accept", "harmless",
             notes="a null of a non-nullable field is pruned, then the default [9092] applies")
transit_case("unknown-field-is-pruned", "spec.haproxy.instanceCuont", 3, "refuse", "harmless",
             expect="spec.haproxy.instanceCuont",
             notes="kubectl's default strict validation refuses it; a non-strict client has it dropped")
cpl_case("unknown-nested-field", "spec.dns.zoneName", "x", "refuse", "harmless", expect="spec.dns.zoneName")
cpl_case("ttl-as-string", "spec.dns.ttl", "60", "refuse", "api")
cpl_case("manage-zone-as-string", "spec.dns.manageZone", "false", "refuse", "api")
cpl_case("no-zones", "spec.confluent.zones", [], "refuse", "api")
cpl_case("two-zones", "spec.confluent.zones", [{"name": "az1", "privateLinkServiceAlias": ALIAS},
                                               {"name": "az2", "privateLinkServiceAlias": ALIAS}],
         "refuse", "operator", expect="spec.confluent.zones")
cpl_case("spec-missing", "spec", _DELETE, "refuse", "api", expect="spec")

# --------------------------------------------------------------------------------------------------------
# B. ObjectMeta as apimachinery validates it, and names the Azure ownership tag can carry
# --------------------------------------------------------------------------------------------------------
transit_case("name-over-63", "metadata.name", "n" * 64, "refuse", "api", expect="metadata.name")
transit_case("name-63-fits-the-tag", "metadata.name", "n" * 63, "accept", "harmless")
transit_case("name-uppercase", "metadata.name", "Transit", "refuse", "api", expect="metadata.name")
transit_case("name-with-slash", "metadata.name", "a/b", "refuse", "api", expect="metadata.name")
transit_case("label-key-invalid", "metadata.labels", {"bad key!": "v"}, "refuse", "api", expect="metadata.labels")
transit_case("label-value-too-long", "metadata.labels", {"app": "v" * 64}, "refuse", "api", expect="metadata.labels")
transit_case("annotation-key-invalid", "metadata.annotations", {"a/b/c": "v"}, "refuse", "api",
             expect="metadata.annotations")
transit_case("annotations-over-256-kib", "metadata.annotations", {"big": "x" * (256 * 1024)}, "refuse", "api",
             expect="metadata.annotations")
transit_case("finalizer-invalid", "metadata.finalizers", ["not valid!"], "refuse", "api",
             expect="metadata.finalizers[0]")

# --------------------------------------------------------------------------------------------------------
# C. ARM ids that would walk out of their resource (every segment a valid name for its type)
# --------------------------------------------------------------------------------------------------------
_SUBNET_PATH = "spec.network.frontendSubnetId"
for case_id, value in [
    ("subnet-dot-dot", f"{VNET}/subnets/.."),
    ("subnet-dot", f"{VNET}/subnets/."),
    ("subnet-trailing-period", f"{VNET}/subnets/snet-transit."),
    ("subnet-percent-encoded-dots", f"{VNET}/subnets/%2e%2e"),
    ("subnet-extra-segments", f"{VNET}/subnets/snet-transit/ipConfigurations/x"),
    ("subnet-query-injection", f"{VNET}/subnets/snet-transit?api-version=2020-01-01"),
    ("subnet-fragment", f"{VNET}/subnets/snet-transit#x"),
    ("subnet-whitespace", f"{VNET}/subnets/snet transit"),
    ("subnet-newline", f"{VNET}/subnets/snet-transit\n"),
    ("subnet-name-81", f"{VNET}/subnets/{'s' * 81}"),
    ("subnet-of-another-type", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-h-network/providers/"
                               "Microsoft.Compute/virtualMachines/vm/subnets/x"),
    ("vnet-dot-dot", f"{_NET}/../subnets/snet-transit"),
    ("vnet-name-one-char", f"{_NET}/v/subnets/snet-transit"),
    ("resource-group-dot-dot", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/../providers/Microsoft.Network/"
                               "virtualNetworks/vnet-h/subnets/snet-transit"),
    ("resource-group-over-90", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{'r' * 91}/providers/"
                               "Microsoft.Network/virtualNetworks/vnet-h/subnets/snet-transit"),
    ("subscription-not-a-guid", "/subscriptions/not-a-guid/resourceGroups/rg-h-network/providers/"
                                "Microsoft.Network/virtualNetworks/vnet-h/subnets/snet-transit"),
    ("subscription-dot-dot", "/subscriptions/../resourceGroups/rg-h-network/providers/"
                             "Microsoft.Network/virtualNetworks/vnet-h/subnets/snet-transit"),
    ("subnet-unicode-homoglyph", f"{VNET}/subnets/snet-tr\u0430nsit"),  # a Cyrillic a
]:
    transit_case(case_id, _SUBNET_PATH, value, "refuse", "api", expect=_SUBNET_PATH)
cpl_case("endpoint-subnet-dot-dot", "spec.privateEndpoints.subnetId", f"{VNET}/subnets/..", "refuse", "api")
cpl_case("link-vnet-dot-dot", "spec.dns.virtualNetworkIds", [f"{_NET}/.."], "refuse", "api",
         expect="spec.dns.virtualNetworkIds[0]")
cpl_case("pls-id-dot-dot", "spec.confluent.zones.0.privateLinkServiceAlias",
         f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/..",
         "refuse", "api", expect="spec.confluent.zones[0].privateLinkServiceAlias")
transit_case("provider-namespace-lower-case", _SUBNET_PATH,
             subnet("snet-transit").replace("Microsoft.Network", "microsoft.network"), "accept", "harmless",
             notes="ARM ids compare case-insensitively")

# --------------------------------------------------------------------------------------------------------
# D. Values the cloud would refuse after other resources were written (known from the spec, or one read)
# --------------------------------------------------------------------------------------------------------
_IP = "spec.applicationGateway.privateFrontendIp"
for case_id, value in [("frontend-ip-loopback", "127.0.0.1"), ("frontend-ip-link-local", "169.254.169.254"),
                       ("frontend-ip-multicast", "224.0.0.1"), ("frontend-ip-unspecified", "0.0.0.0"),
                       ("frontend-ip-shared-address-space", "100.64.0.1"), ("frontend-ip-public", "8.8.8.8"),
                       ("frontend-ip-not-an-address", "10.50.4.256"), ("frontend-ip-padded", " 10.50.4.10")]:
    transit_case(case_id, _IP, value, "refuse", "operator", option="applicationGateway")
for case_id, value in [("frontend-ip-outside-its-subnet", "10.50.9.10"), ("frontend-ip-network-address", "10.50.4.0"),
                       ("frontend-ip-reserved-dns", "10.50.4.3"), ("frontend-ip-broadcast", "10.50.4.255")]:
    transit_case(case_id, _IP, value, "accept", "operator", option="applicationGateway",
                 notes="needs the subnet's prefix: the operator's preflight read refuses it before any write")
transit_case("frontend-subnet-missing", _SUBNET_PATH, subnet("snet-missing"), "accept", "operator",
             notes="waited for (the customer may create it), with no write meanwhile")
transit_case("private-link-subnet-missing", "spec.network.privateLinkSubnetId", subnet("snet-missing-pl"),
             "accept", "operator")
cpl_case("endpoint-subnet-missing", "spec.privateEndpoints.subnetId", subnet("snet-missing"), "accept", "operator")
cpl_case("link-vnet-missing", "spec.dns.virtualNetworkIds", [f"{_NET}/vnet-missing"], "accept", "operator",
         expect="spec.dns.virtualNetworkIds[0]")
cpl_case("dns-domain-too-long-for-its-records", "spec.confluent.dnsDomain", ("a" * 60 + ".") * 4 + "cloud",
         "refuse", "operator", expect="spec.confluent.dnsDomain")
cpl_case("dns-domain-label-over-63", "spec.confluent.dnsDomain", "a" * 64 + ".example.cloud", "refuse", "api")
cpl_case("dns-domain-35-labels", "spec.confluent.dnsDomain", "a." * 34 + "cloud", "refuse", "operator",
         expect="spec.confluent.dnsDomain")
cpl_case("dns-domain-reserved-tld", "spec.confluent.dnsDomain", "n-x.internal", "refuse", "operator",
         expect="spec.confluent.dnsDomain")
cpl_case("bootstrap-outside-domain", "spec.confluent.bootstrapServer", "lkc.evil.example.cloud:9092",
         "refuse", "operator", expect="spec.confluent")
cpl_case("bootstrap-port-out-of-range", "spec.confluent.bootstrapServer", f"lkc-h.{DOMAIN}:70000",
         "refuse", "operator", expect="spec.confluent")
cpl_case("request-message-over-140", "spec.privateEndpoints.requestMessage", "m" * 141, "refuse", "api")
cpl_case("ttl-zero", "spec.dns.ttl", 0, "refuse", "api")
cpl_case("region-with-space", "spec.azure.location", "west europe", "refuse", "api")
transit_case("extra-domain-reserved-tld", "spec.databricks.extraDomainNames", ["kafka.local"], "refuse", "operator",
             expect="spec.databricks.extraDomainNames[0]")
transit_case("extra-domain-label-over-63", "spec.databricks.extraDomainNames", ["a" * 64 + ".example.com"],
             "refuse", "api", expect="spec.databricks.extraDomainNames[0]")
transit_case("ncc-name-too-long", "spec.databricks.ncc.name", "n" * 31, "refuse", "api")
transit_case("ncc-name-and-id", "spec.databricks.ncc.id", "33333333-4444-5555-6666-777777777777", "refuse", "operator",
             expect="spec.databricks.ncc")
transit_case("admin-user-root", "spec.haproxy.adminUsername", "root", "refuse", "operator",
             expect="spec.haproxy.adminUsername")
transit_case("ssh-key-garbage", "spec.haproxy.sshPublicKey", "not a key; rm -rf /", "refuse", "api")
transit_case("vm-size-injection", "spec.haproxy.vmSize", "Standard_B2s; reboot", "refuse", "api")
transit_case("image-publisher-control-character", "spec.haproxy.image", {"publisher": "Debian\u0007"}, "refuse",
             "api", expect="spec.haproxy.image.publisher")
transit_case("visibility-not-a-guid", "spec.haproxy.privateLinkVisibility", ["*"], "refuse", "api",
             expect="spec.haproxy.privateLinkVisibility[0]")
transit_case("same-subnet-twice", "spec.network.privateLinkSubnetId", subnet("snet-transit"), "refuse", "operator",
             expect="spec")
transit_case("capacity-order", "spec.applicationGateway.minCapacity", 5, "refuse", "operator",
             option="applicationGateway", expect="spec.applicationGateway")
transit_case("cpl-reference-dot-dot", "spec.confluentPrivateLinkRef.name", "..", "refuse", "api",
             expect="spec.confluentPrivateLinkRef.name")

# --------------------------------------------------------------------------------------------------------
# E. Where credentials may go: Databricks account hosts only, unless the operator is told otherwise
# --------------------------------------------------------------------------------------------------------
_HOST = "spec.databricks.accountHost"
for case_id, value in [("host-metadata-service", "https://169.254.169.254"), ("host-localhost", "https://localhost"),
                       ("host-loopback-ip", "https://127.0.0.1:8443"), ("host-anyone", "https://evil.example.com"),
                       ("host-lookalike-suffix", "https://accounts.azuredatabricks.net.evil.example.com"),
                       ("host-account-host-other-port", "https://accounts.azuredatabricks.net:8443"),
                       ("host-private-ip", "https://10.0.0.1")]:
    transit_case(case_id, _HOST, value, "accept", "operator",
                 notes="plan cannot know the operator's --allow-databricks-host; the operator refuses it")
for case_id, value in [("host-plain-http", "http://accounts.azuredatabricks.net"),
                       ("host-userinfo", "https://user@accounts.azuredatabricks.net"),
                       ("host-with-path", "https://accounts.azuredatabricks.net/api"),
                       ("host-ipv6-literal", "https://[::1]"),
                       ("host-uppercase", "https://ACCOUNTS.azuredatabricks.net")]:
    transit_case(case_id, _HOST, value, "refuse", "api")
transit_case("host-port-out-of-range", _HOST, "https://accounts.azuredatabricks.net:99999", "refuse", "operator")

# --------------------------------------------------------------------------------------------------------
# F. Credentials Secrets: checked before use, named by key, never shown
# --------------------------------------------------------------------------------------------------------
_KEY = "key `token`"
secret_case("token-trailing-newline", lambda n: _secret(n, string_data={"token": CANARY + "\n"}), "accept", "operator",
            _KEY)
secret_case("token-crlf", lambda n: _secret(n, string_data={"token": CANARY + "\r\n"}), "accept", "operator", _KEY)
secret_case("token-inner-space", lambda n: _secret(n, string_data={"token": CANARY + " x"}), "accept", "operator",
            _KEY)
secret_case("token-control-character", lambda n: _secret(n, string_data={"token": CANARY + "\u0007"}), "accept",
            "operator", _KEY)
secret_case("token-not-utf8", lambda n: _secret(n, data={"token": CANARY.encode() + b"\xff\xfe"}), "accept",
            "operator", _KEY)
secret_case("token-non-ascii", lambda n: _secret(n, string_data={"token": CANARY + "é"}), "accept", "operator", _KEY)
secret_case("token-huge", lambda n: _secret(n, string_data={"token": CANARY + "x" * 20000}), "accept", "operator",
            _KEY)
secret_case("client-secret-newline", lambda n: _secret(n, string_data={
    "azure_client_id": "00000000-0000-0000-0000-000000000001", "azure_client_secret": CANARY + "\n",
    "azure_tenant_id": "00000000-0000-0000-0000-000000000002"}), "accept", "operator", "key `azure_client_secret`")
secret_case("client-secret-without-id", lambda n: _secret(n, string_data={"client_secret": CANARY}), "accept",
            "operator", "has keys ['client_secret']")
secret_case("no-credential-keys", lambda n: _secret(n, string_data={"password": CANARY}), "accept", "operator",
            "has keys []")
secret_case("wrong-token", lambda n: _secret(n, string_data={"token": CANARY}), "accept", "operator",
            "UNAUTHENTICATED", notes="Databricks refuses it: retried slowly, nothing written, never shown")
secret_case("secret-key-invalid", lambda n: _secret(n, string_data={"to ken": CANARY}), "refuse", "api",
            "to ken")
secret_case("secret-data-not-base64", lambda n: _secret(n, raw_data={"token": "!!!" + CANARY}), "refuse", "api",
            "base64")
secret_case("secret-over-one-mebibyte", lambda n: _secret(n, string_data={"token": CANARY, "pad": "p" * (1 << 20)}),
            "refuse", "api", "data")
transit_case("secret-missing", "spec.databricks.credentialsSecretRef", {"name": "does-not-exist"}, "accept",
             "operator", expect="does-not-exist", notes="waited for, with no write meanwhile")
transit_case("secret-reference-uppercase", "spec.databricks.credentialsSecretRef", {"name": "Secret"}, "refuse",
             "api", expect="spec.databricks.credentialsSecretRef.name")

# --------------------------------------------------------------------------------------------------------
# G. Status values that would flow into DNS records, haproxy.cfg and cloud calls (plan reads a file's
#    status; on apply the API server ignores status, so the cluster verdict is harmless)
# --------------------------------------------------------------------------------------------------------
for case_id, path, value, expect in [
    ("status-endpoint-ip-loopback", "status", {"zones": [{"name": "az1", "privateIp": "127.0.0.1",
                                                          "connectionState": "Approved"}]}, "status.zones[0].privateIp"),
    ("status-endpoint-ip-injection", "status", {"zones": [{"name": "az1", "privateIp": "10.0.0.1\n  server x 1.2.3.4",
                                                           "connectionState": "Approved"}]}, "status.zones[0].privateIp"),
    ("status-dns-zone-elsewhere", "status", {"dnsZoneId": "/subscriptions/x/../../other"}, "status.dnsZoneId"),
    ("status-zone-name-injection", "status", {"zones": [{"name": "az1\nserver", "connectionState": "Approved"}]},
     "status.zones[0].name"),
]:
    cpl_case(case_id, path, value, "refuse", "harmless", expect=expect)

# --------------------------------------------------------------------------------------------------------
# H. Resource exhaustion: whole documents
# --------------------------------------------------------------------------------------------------------
_bomb = ["apiVersion: transit.privatelink.io/v1alpha1", "kind: ConfluentPrivateLink",
         f"metadata: {{name: bomb, namespace: {NAMESPACE}}}", 'a0: &a0 ["l","l","l","l","l","l","l","l","l"]']
_bomb += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
raw_case("yaml-alias-bomb", "\n".join(_bomb).encode(), "refuse", "api", "excessive aliasing",
         plan_expect="expands to more than")
raw_case("json-nested-deeply", b'{"apiVersion": "v1", "kind": "Secret", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
         "refuse", "api", "nested too deeply")
_huge = _cpl("huge", "rg-h-huge")
_huge["spec"]["padding"] = "p" * (3 * 1024 * 1024 + 1)
raw_case("document-over-three-mebibytes", json.dumps(_huge).encode(), "refuse", "api", "limit is 3145728",
         plan_expect="spec.padding", notes="plan refuses the unknown field; the API server the size")
raw_case("not-a-mapping", b"- just\n- a list\n", "refuse", "api", "unknown format", plan_expect="expected a mapping")

CASES: tuple[Case, ...] = tuple(_cases)

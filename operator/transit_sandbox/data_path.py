"""The data path of a sandbox cloud, built from what the operator wrote into it (`sandbox --dataplane`).

Reads the emulated clouds over their HTTPS APIs with the sandbox token, like any client:

- every private DNS zone with `*.azN` (or `endpoint-azN`) A records is a Confluent network: Apache Kafka
  brokers behind its zones' private endpoint IPs (`confluent_zones.ConfluentZones`, the bootstrap cluster
  name taken from `clusters` when the caller knows it);
- every ESTABLISHED NCC private endpoint rule whose target is a Private Link Service: its load balancer
  (the LB body: rules, probe, interval, threshold) in front of the VMSS instances in its backend pool
  (network namespaces of the `NetnsExecutor`), and a serverless client whose resolver answers the rule's
  domain names with the NCC endpoint IP (`client_path.ServerlessPath`).

`check()` then runs a Kafka producer and a checking consumer through every serverless path. The VNet of
the executor must hold the endpoint IPs the ARM emulator hands out (`SANDBOX_VNET`). `vnet_client(domain)`
adds a client in the customer VNet that resolves through the private DNS zone as the operator wrote it
(straight to the private endpoints: the benchmarks' direct path).
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transit_sandbox import kafka_client
from transit_sandbox.client_path import (
    LoadBalancerSpec,
    Resolver,
    ServerlessPath,
    ncc_records,
    private_zone_records,
)
from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import DataplaneError, NetnsExecutor

# What the operator names the status endpoint's LB rule (transit_operator.plan.naming.STATUS_RULE_NAME; the
# sandbox never imports the operator) and how a wildcard on an NCC rule covers a name (one label).
STATUS_RULE_NAME = "status"


def covered(name: str, names: Sequence[str]) -> bool:
    return name in names or ("." in name and "*." + name.split(".", 1)[1] in names)

__all__ = ["SANDBOX_VNET", "CloudApi", "SandboxDataPath", "Transit"]

SANDBOX_VNET = "10.0.0.0/8"  # every address the sandbox's VNets hand out (sandbox command: 10.100+.x.y)
_NETWORK = "2026-03-01"
_COMPUTE = "2026-04-01"
_PRIVATE_DNS = "2024-06-01"


class CloudApi:
    """GETs against the sandbox cloud's ARM and Databricks endpoints (its CA, its token), over the
    subscriptions given."""

    def __init__(self, arm_url: str, databricks_url: str, ca_bundle: str, token: str, subscriptions: list[str]) -> None:
        self.arm_url, self.databricks_url = arm_url.rstrip("/"), databricks_url.rstrip("/")
        self.subscriptions = sorted({s.lower() for s in subscriptions})
        self._context = ssl.create_default_context(cafile=ca_bundle)
        self._headers = {"Authorization": f"Bearer {token}"}

    def get(self, url: str) -> Any:
        request = urllib.request.Request(url, headers=self._headers)
        with urllib.request.urlopen(request, context=self._context, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def arm(self, path: str, api_version: str) -> Any:
        return self.get(f"{self.arm_url}{path}?api-version={api_version}")

    def arm_list(self, provider_type: str, api_version: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for sub in self.subscriptions:
            found += self.arm(f"/subscriptions/{sub}/providers/{provider_type}", api_version)["value"]
        return found

    def ncc_rules(self, account_id: str) -> list[dict[str, Any]]:
        base = f"{self.databricks_url}/api/2.0/accounts/{account_id}/network-connectivity-configs"
        rules: list[dict[str, Any]] = []
        for ncc in self.get(base).get("items") or []:
            listed = self.get(f"{base}/{ncc['network_connectivity_config_id']}/private-endpoint-rules")
            rules += listed.get("items") or []
        return rules


@dataclass
class Transit:
    """One haproxy transit's serverless path and its client namespace."""

    private_link_service: str
    path: ServerlessPath
    client: str
    domain_names: list[str]
    zones: ConfluentZones | None
    status_url: str | None = None  # the status endpoint, as a notebook reaches it (when the LB has its rule)


class SandboxDataPath:
    """Kafka behind every Confluent network and a serverless path to every haproxy transit (see above)."""

    def __init__(self, api: CloudApi, executor: NetnsExecutor, *, account_ids: list[str],
                 clusters: Mapping[str, str] | None = None, status_names: Sequence[str] = ()) -> None:  # fmt: skip
        self.api, self.executor, self.account_ids = api, executor, account_ids
        self.clusters = dict(clusters or {})
        self.status_names = [n.lower() for n in status_names]  # the CRs' spec.haproxy.statusEndpoint.domainName
        self.networks: dict[str, ConfluentZones] = {}
        self.transits: list[Transit] = []
        self._zone_ids: dict[str, str] = {}  # DNS domain -> private DNS zone id
        self._vnet_clients: dict[str, tuple[str, Resolver]] = {}  # DNS domain -> (namespace, resolver)
        self._work: Path | None = None

    def build(self) -> list[str]:
        """Bring everything up; one line per part, for the user."""
        lines = []
        try:
            for zone_name, endpoints in self._confluent_networks().items():
                zones = ConfluentZones(self.executor.vnet, domain=zone_name, endpoint_ips=endpoints,
                                       cluster=self.clusters.get(zone_name, "lkc-sandbox"))  # fmt: skip
                self.networks[zone_name] = zones
                lines.append(f"Confluent {zone_name}: Apache Kafka {zones.version}, {len(zones.brokers)} broker(s) "
                             f"behind {', '.join(f'{z}={ip}' for z, ip in sorted(endpoints.items()))}; CA {zones.ca_file}")
            for transit in self._transits():
                self.transits.append(transit)
                lines.append(
                    f"Serverless client (namespace {transit.client}) -> NCC endpoint {transit.path.endpoint_ip} -> "
                    f"{transit.private_link_service.rsplit('/', 1)[-1]} -> instances "
                    f"{', '.join(transit.path.in_rotation()) or '-'}"
                )
        except BaseException:
            self.close()
            raise
        return lines

    def _confluent_networks(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for zone in self.api.arm_list("Microsoft.Network/privateDnsZones", _PRIVATE_DNS):
            sets = self.api.arm(f"{zone['id']}/ALL", _PRIVATE_DNS)["value"]
            endpoints = {}
            for record_set in sets:
                name = str(record_set["name"]).lower()
                label = name.removeprefix("*.").removeprefix("endpoint-")
                ips = [a["ipv4Address"] for a in (record_set.get("properties") or {}).get("aRecords") or []]
                if label.startswith("az") and label[2:].isdigit() and len(ips) == 1:
                    endpoints[label] = ips[0]
            if endpoints:
                found[str(zone["name"]).lower()] = endpoints
                self._zone_ids[str(zone["name"]).lower()] = str(zone["id"])
        return found

    def _transits(self) -> list[Transit]:
        lbs = {lb["id"].lower(): lb for lb in self.api.arm_list("Microsoft.Network/loadBalancers", _NETWORK)}
        plss = {p["id"].lower(): p for p in self.api.arm_list("Microsoft.Network/privateLinkServices", _NETWORK)}
        vmsss = self.api.arm_list("Microsoft.Compute/virtualMachineScaleSets", _COMPUTE)
        transits = []
        for account_id in self.account_ids:
            for rule in self.api.ncc_rules(account_id):
                pls = plss.get(str(rule.get("resource_id", "")).lower())
                if pls is None or rule.get("connection_state") != "ESTABLISHED":
                    continue
                frontend = pls["properties"]["loadBalancerFrontendIpConfigurations"][0]["id"].lower()
                lb = lbs[frontend.split("/frontendipconfigurations/")[0]]
                pool = lb["properties"]["backendAddressPools"][0]["id"].lower()
                members = [v["id"].lower() for v in vmsss if pool in json.dumps(v).lower()]
                addresses = [self.executor.address(vmss, i) for vmss, i in self.executor.instances() if vmss.lower() in members]
                path = ServerlessPath(self.executor.vnet, LoadBalancerSpec.from_body(lb))
                path.set_backends(addresses)
                names = list(rule.get("domain_names") or [])
                client = path.add_client(ncc_records(names, path.endpoint_ip))
                path.wait_in_rotation(addresses, timeout=30)
                zones = next((z for d, z in self.networks.items() if f"*.{d}" in names or any(n.endswith(d) for n in names)), None)
                status = [r["properties"]["frontendPort"] for r in lb["properties"]["loadBalancingRules"]
                          if r["name"] == STATUS_RULE_NAME]  # fmt: skip
                name = next((n for n in self.status_names if covered(n, names)), None)
                url = f"http://{name}:{status[0]}/status" if status and name else None
                transits.append(Transit(pls["id"], path, client, names, zones, url))
        return transits

    def check(self, seconds: float = 2, rate: int = 200) -> list[str]:
        """Produce through every serverless path and read it all back; one line each. DataplaneError when
        a message failed, went missing, came twice or out of order."""
        lines = []
        for transit in self.transits:
            if transit.zones is None:
                raise DataplaneError(f"no Confluent network behind {transit.private_link_service}")
            zones, vnet = transit.zones, self.executor.vnet
            results: list[dict[str, Any]] = []
            for mode, args in (("produce", (seconds, rate)), ("consume", ())):
                sent = results[0]["sent"] if results else 0
                argv = kafka_client.argv(mode, zones.bootstrap(), str(zones.ca_file), "sandbox-check", *(args or (sent,)))
                proc = vnet.exec(transit.client, argv, timeout=180)
                if proc.returncode != 0:
                    raise DataplaneError(f"kafka {mode} in {transit.client}: {proc.stderr[-1500:]}")
                results.append(json.loads(proc.stdout.splitlines()[-1]))
            produced, consumed = results
            bad = produced["failed"] + consumed["lost"] + consumed["duplicated"] + consumed["out_of_order"]
            lines.append(f"Kafka through {transit.private_link_service.rsplit('/', 1)[-1]}: {produced['sent']} sent, "
                         f"{produced['failed']} failed, {consumed['lost']} lost, {consumed['duplicated']} duplicated, "
                         f"{consumed['out_of_order']} out of order")  # fmt: skip
            if bad:
                raise DataplaneError(lines[-1])
            if transit.status_url is not None:
                lines.append(f"curl {transit.status_url} -> {json.dumps(self.status(transit))}")
        return lines

    def status(self, transit: Transit) -> dict[str, Any]:
        """The transit's status endpoint as a notebook's `%sh curl` sees it (through the client's resolver,
        the NCC endpoint, Private Link and the LB)."""
        if transit.status_url is None:
            raise DataplaneError(f"{transit.private_link_service} has no status endpoint")
        proc = self.executor.vnet.exec(transit.client, ["curl", "-sS", "--max-time", "5", transit.status_url], timeout=15)
        if proc.returncode != 0:
            raise DataplaneError(f"curl {transit.status_url}: {proc.stderr.strip()}")
        return dict(json.loads(proc.stdout))

    def vnet_client(self, domain: str) -> str:
        """A client namespace in the customer VNet resolving through the private DNS zone `domain` (A or
        CNAME records as the operator wrote them); `update_vnet_client` re-reads the zone."""
        if domain not in self._vnet_clients:
            if self._work is None:
                self._work = Path(tempfile.mkdtemp(prefix=f"{self.executor.vnet.prefix}-datapath-"))
            ns = self.executor.vnet.add_member("direct")
            self._vnet_clients[domain] = (ns, Resolver(self.executor.vnet, ns, self._work))
        self.update_vnet_client(domain)
        return self._vnet_clients[domain][0]

    def update_vnet_client(self, domain: str) -> None:
        sets = self.api.arm(f"{self._zone_ids[domain]}/ALL", _PRIVATE_DNS)["value"]
        self._vnet_clients[domain][1].update(private_zone_records(domain, sets))

    def close(self) -> None:
        for ns, resolver in self._vnet_clients.values():
            resolver.stop()
            self.executor.vnet.remove_member(ns)
        self._vnet_clients.clear()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
        for transit in self.transits:
            transit.path.close()
        self.transits.clear()
        for zones in self.networks.values():
            zones.close()
        self.networks.clear()

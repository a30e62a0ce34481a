"""Fixtures: a started SandboxCloud and the real Azure SDK clients pointed at it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.privatedns import PrivateDnsManagementClient

from transit_sandbox.executor import RecordingExecutor
from transit_sandbox.server import SandboxCloud


class StaticTokenCredential:
    """A TokenCredential that always returns the sandbox's bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="session")
def sandbox_cloud_session() -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=RecordingExecutor(), check_conformance=True) as cloud:
        yield cloud


@pytest.fixture
def sandbox_cloud(sandbox_cloud_session: SandboxCloud, request: pytest.FixtureRequest) -> Iterator[SandboxCloud]:
    """The shared cloud with faults, timings and the request log reset; resources persist across tests
    (every test uses its own resource group). Every answer the emulator gave in the test must conform to the
    Azure REST specs (`transit_sandbox.conformance`); the tests' own requests - some wrong on purpose - are
    not judged, and tests marked `conformance_plants` plant wrong answers on purpose."""
    cloud = sandbox_cloud_session
    yield cloud
    answers = [v for v in cloud.admin.take_violations() if v.direction == "response"]
    if "conformance_plants" not in request.keywords:
        assert answers == [], "\n".join(str(v) for v in answers[:20])
    cloud.admin.reset()


def _kwargs(cloud: SandboxCloud) -> dict[str, object]:
    return {"base_url": cloud.arm_url, "connection_verify": cloud.ca_bundle, "polling_interval": 0.05,
            "retry_backoff_factor": 0.01}


@pytest.fixture
def network_client(sandbox_cloud: SandboxCloud) -> NetworkManagementClient:
    return NetworkManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                   **_kwargs(sandbox_cloud))


@pytest.fixture
def compute_client(sandbox_cloud: SandboxCloud) -> ComputeManagementClient:
    return ComputeManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                   **_kwargs(sandbox_cloud))


@pytest.fixture
def dns_client(sandbox_cloud: SandboxCloud) -> PrivateDnsManagementClient:
    return PrivateDnsManagementClient(StaticTokenCredential(sandbox_cloud.token), sandbox_cloud.subscription_id,
                                      **_kwargs(sandbox_cloud))


@pytest.fixture
def rg(request: pytest.FixtureRequest) -> str:
    """A resource group name unique to the test (resource groups are implicit in the emulator)."""
    return f"rg-{request.node.name}"[:90].replace("[", "-").replace("]", "")


class Topology:
    """A VNet with one subnet per role, in the test's resource group, and id/body helpers."""

    location = "westeurope"
    subnets = {"pe": "10.0.1.0/24", "nat": "10.0.2.0/24", "backend": "10.0.3.0/24", "appgw": "10.0.4.0/24",
               "appgwpl": "10.0.5.0/24"}

    def __init__(self, cloud: SandboxCloud, network: NetworkManagementClient, rg: str) -> None:
        self.cloud, self.network, self.rg = cloud, network, rg
        self.sub = cloud.subscription_id
        self.vnet_id = self.id("virtualNetworks", "vnet")
        subnets = [{"name": name, "properties": {"addressPrefix": prefix}} for name, prefix in self.subnets.items()]
        subnets[1]["properties"]["privateLinkServiceNetworkPolicies"] = "Disabled"
        network.virtual_networks.begin_create_or_update(rg, "vnet", {
            "location": self.location,
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": subnets},
        }).result()

    def id(self, type_: str, name: str, provider: str = "Microsoft.Network") -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/{provider}/{type_}/{name}"

    def subnet(self, name: str) -> str:
        return f"{self.vnet_id}/subnets/{name}"

    def lb_body(self, pool_addresses: list[str] | None = None) -> dict:
        lb = self.id("loadBalancers", "lb")
        pool: dict = {"name": "pool", "properties": {}}
        if pool_addresses:
            pool["properties"]["loadBalancerBackendAddresses"] = [
                {"name": f"a{i}", "properties": {"ipAddress": ip, "virtualNetwork": {"id": self.vnet_id}}}
                for i, ip in enumerate(pool_addresses)
            ]
        return {
            "location": self.location,
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "frontendIPConfigurations": [{"name": "fe", "properties": {
                    "subnet": {"id": self.subnet("backend")}, "privateIPAllocationMethod": "Dynamic"}}],
                "backendAddressPools": [pool],
                "probes": [{"name": "kafka", "properties": {"protocol": "Tcp", "port": 9092, "intervalInSeconds": 5,
                                                             "numberOfProbes": 2}}],
                "loadBalancingRules": [{"name": "kafka", "properties": {
                    "frontendIPConfiguration": {"id": f"{lb}/frontendIPConfigurations/fe"},
                    "backendAddressPool": {"id": f"{lb}/backendAddressPools/pool"},
                    "probe": {"id": f"{lb}/probes/kafka"}, "protocol": "Tcp", "frontendPort": 9092,
                    "backendPort": 9092, "idleTimeoutInMinutes": 30, "enableTcpReset": True}}],
            },
        }

    def create_lb(self, pool_addresses: list[str] | None = None):
        return self.network.load_balancers.begin_create_or_update(self.rg, "lb", self.lb_body(pool_addresses)).result()

    def pls_body(self, nat_subnet: str = "nat", nat_ips: int = 1, auto_approve: list[str] | None = None) -> dict:
        return {
            "location": self.location,
            "properties": {
                "loadBalancerFrontendIpConfigurations": [{"id": f"{self.id('loadBalancers', 'lb')}/frontendIPConfigurations/fe"}],
                "ipConfigurations": [{"name": f"nat{i}", "properties": {
                    "subnet": {"id": self.subnet(nat_subnet)}, "privateIPAllocationMethod": "Dynamic",
                    "primary": i == 0}} for i in range(nat_ips)],
                "visibility": {"subscriptions": ["*"]},
                "autoApproval": {"subscriptions": auto_approve or []},
            },
        }

    def create_pls(self, **kwargs):
        return self.network.private_link_services.begin_create_or_update(self.rg, "pls", self.pls_body(**kwargs)).result()

    def pe_body(self, target: str, group_ids: list[str] | None = None, location: str | None = None) -> dict:
        return {
            "location": location or self.location,
            "properties": {
                "subnet": {"id": self.subnet("pe")},
                "manualPrivateLinkServiceConnections": [{"name": "conn", "properties": {
                    "privateLinkServiceId": target, "groupIds": group_ids or [], "requestMessage": "PL"}}],
            },
        }

    def create_pe(self, name: str, target: str, group_ids: list[str] | None = None):
        return self.network.private_endpoints.begin_create_or_update(self.rg, name, self.pe_body(target, group_ids)).result()

    def pe_ip(self, pe) -> str:
        nic_name = pe.network_interfaces[0].id.rsplit("/", 1)[1]
        return self.network.network_interfaces.get(self.rg, nic_name).ip_configurations[0].private_ip_address


@pytest.fixture
def topo(sandbox_cloud: SandboxCloud, network_client: NetworkManagementClient, rg: str) -> Topology:
    return Topology(sandbox_cloud, network_client, rg)


CONFLUENT_ALIAS = "s-abc12-privatelink-1.0f6a1c5e-1a2b-4c3d-8e9f-001122334455.westeurope.azure.privatelinkservice"


@pytest.fixture
def make_network_client():
    """Build a NetworkManagementClient for any cloud/token/subscription (for auth and restart tests)."""

    def make(cloud: SandboxCloud, token: str | None = None, subscription: str | None = None) -> NetworkManagementClient:
        return NetworkManagementClient(StaticTokenCredential(token or cloud.token), subscription or cloud.subscription_id,
                                       **_kwargs(cloud))

    return make


@pytest.fixture
def confluent_alias() -> str:
    return CONFLUENT_ALIAS

"""Data-plane fixtures: a VNet of network namespaces, emulated Confluent zones, a client namespace.

Everything here needs root, `ip`, `unshare` and `haproxy`; the Kafka tests also Java 17 and the Apache
Kafka jars, the client-path tests `nft` and `dnsmasq` (scripts/dev bootstrap installs them all); otherwise
tests are skipped with the reason. Namespaces are named `<tag><pid>n<k>-...` (`$TRANSIT_NETNS_PREFIX`,
default `tx`) and all of them are removed in teardown, also when a test fails or on Ctrl-C; namespaces
left by a crashed earlier run of the same tag are removed first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.api.v1alpha1 import ConfluentNetwork, ServerlessTransit
from transit_operator.plan.haproxy_config import (
    KEEPALIVE_IDLE_S,
    ApplyResult,
    ZoneBackend,
    parse_apply_result,
    render_apply_script,
    render_haproxy_config,
)
from transit_operator.plan.ncc import rule_domain_names
from transit_operator.plan.ownership import owner_of_object
from transit_operator.plan.transit.haproxy import build_haproxy_load_balancer
from transit_sandbox import kafka_client
from transit_sandbox.client_path import LoadBalancerSpec
from transit_sandbox.confluent_zones import ConfluentZones, kafka_unavailable_reason
from transit_sandbox.dataplane import (
    NetnsExecutor,
    VNet,
    dataplane_unavailable_reason,
    iter_prefixed_namespaces,
    remove_stale_namespaces,
)
from transit_sandbox.executor import apply_parameters

HERE = Path(__file__).parent
DOMAIN = "n1sandbox.westeurope.azure.confluent.cloud"
SUBNET = "10.213.0.0/24"  # the test VNet; only ever exists inside namespaces
ENDPOINTS = {"az1": "10.213.0.201", "az2": "10.213.0.202", "az3": "10.213.0.203"}
VMSS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/transit"

_REASON = dataplane_unavailable_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.netns)
            if _REASON is not None:
                item.add_marker(pytest.mark.skip(reason=f"data-plane tests: {_REASON}"))


@pytest.fixture(scope="package")
def vnet() -> Iterator[VNet]:
    remove_stale_namespaces()
    net = VNet(SUBNET)
    try:
        yield net
    finally:
        net.close()
        left = list(iter_prefixed_namespaces(net.prefix + "-"))
        assert not left, f"namespaces left behind: {left}"


@pytest.fixture(scope="package")
def zones(vnet: VNet) -> Iterator[ConfluentZones]:
    reason = kafka_unavailable_reason()
    if reason is not None:
        pytest.skip(f"Apache Kafka: {reason}")
    with ConfluentZones(vnet, domain=DOMAIN, endpoint_ips=ENDPOINTS) as cz:
        yield cz


@pytest.fixture
def executor(vnet: VNet) -> Iterator[NetnsExecutor]:
    with NetnsExecutor(vnet) as ex:
        yield ex


def render(zones: ConfluentZones, *, drop: tuple[str, ...] = (), keepalive_idle_s: int = KEEPALIVE_IDLE_S,
           status_port: int | None = None) -> str:  # fmt: skip
    return render_haproxy_config(
        domain=DOMAIN,
        bootstrap_host=zones.bootstrap_host,
        zones=[ZoneBackend(z, None if z in drop else zones.endpoint_ip(z)) for z in zones.zones],
        ports=[9092],
        keepalive_idle_s=keepalive_idle_s,
        status_port=status_port,
    )


def example_transit(status_endpoint: dict[str, Any] | None = None) -> ServerlessTransit:
    """The ServerlessTransit of examples/01-three-zone-haproxy (the load balancer body comes from it), with
    `spec.haproxy.statusEndpoint` when given."""
    docs = yaml.safe_load_all((HERE.parents[1] / "examples/01-three-zone-haproxy/transit.yaml").read_text())
    doc = next(d for d in docs if d["kind"] == "ServerlessTransit")
    if status_endpoint is not None:
        doc["spec"]["haproxy"]["statusEndpoint"] = status_endpoint
    return ServerlessTransit.model_validate(doc)


def planned_load_balancer(status_endpoint: dict[str, Any] | None = None) -> LoadBalancerSpec:
    """What the operator plans for the Standard LB in front of the instances (probe, interval, threshold;
    the status endpoint's rule when given)."""
    sxt = example_transit(status_endpoint)
    return LoadBalancerSpec.from_body(build_haproxy_load_balancer(sxt.spec, owner=owner_of_object(sxt, uid="u")).body)


def ncc_domain_names(zones: ConfluentZones, *, glb: bool = False, status_name: str | None = None) -> list[str]:
    """The NCC rule's domain names the operator puts on the rule for this Confluent network (and a status
    endpoint's name)."""
    network = ConfluentNetwork.model_validate({
        "networkId": "n-sandbox", "dnsDomain": DOMAIN, "bootstrapServer": zones.bootstrap(glb=glb),
        "zones": [{"name": z, "privateLinkServiceAlias": f"s-{z}.0a0a0a0a-1111-4111-8111-00000000000{z[-1]}.westeurope.azure.privatelinkservice"}
                  for z in zones.zones],
    })  # fmt: skip
    databricks = example_transit().spec.databricks
    return rule_domain_names(network, databricks, status_name=status_name)


def apply(
    executor: NetnsExecutor, instance: str, config: str, digest: str | None = None
) -> tuple[int, ApplyResult]:
    params = apply_parameters(config) | ({"CONFIG_HASH": digest} if digest else {})
    rc, out, err = executor.run_command(VMSS, instance, render_apply_script(), params)
    # Like Azure's action run-command: one message, stdout then stderr, only the tail kept.
    result = parse_apply_result(f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}"[-4096:])
    return rc, result


@dataclass
class Client:
    """A namespace on the VNet whose /etc/hosts points every Confluent name at the transit instance."""

    vnet: VNet
    ns: str
    zones: ConfluentZones

    def point_at(self, address: str) -> None:
        """Every Confluent name (both shapes) resolves to `address` (one transit instance)."""
        self.vnet.set_hosts(self.ns, {name: address for name in self.zones.host_names()})

    def tls(self, *names: str, port: int = 9092, connect_to: str = "-") -> dict[str, str]:
        argv = [
            sys.executable,
            str(HERE / "tls_probe.py"),
            str(self.zones.ca_file),
            str(port),
            connect_to,
            *names,
        ]
        proc = self.vnet.exec(self.ns, argv, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def http_status(self, url: str) -> int:
        code = (
            "import sys, urllib.request, urllib.error\n"
            "try:\n    print(urllib.request.urlopen(sys.argv[1], timeout=3).status)\n"
            "except urllib.error.HTTPError as e:\n    print(e.code)\n"
            "except OSError:\n    print(0)\n"
        )
        proc = self.vnet.exec(self.ns, [sys.executable, "-c", code, url], timeout=10)
        return int(proc.stdout.strip() or 0)

    def kafka_argv(self, mode: str, *args: str, glb: bool = False) -> list[str]:
        return kafka_client.argv(mode, self.zones.bootstrap(glb=glb), str(self.zones.ca_file), *args)

    def kafka(self, *args: str, timeout: float = 90, glb: bool = False) -> dict[str, Any]:
        return run_kafka(self.vnet, self.ns, self.kafka_argv(*args, glb=glb), timeout=timeout)

    def kafka_popen(self, log: Path, *args: str, glb: bool = False) -> subprocess.Popen[bytes]:
        return self.vnet.popen(self.ns, self.kafka_argv(*args, glb=glb), log=log)


def run_kafka(vnet: VNet, ns: str, argv: list[str], *, timeout: float = 90) -> dict[str, Any]:
    """Run a `transit_sandbox.kafka_client` command line in `ns`; its JSON result."""
    proc = vnet.exec(ns, argv, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.splitlines()[-1]))


@pytest.fixture(scope="package")
def client(vnet: VNet, zones: ConfluentZones) -> Client:
    return Client(vnet, vnet.add_member("client"), zones)


def eventually(check: Callable[[], object], timeout: float, interval: float = 0.3) -> object:
    """Poll `check` until it returns something truthy; returns it, or fails with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s (last value: {value!r})")
        time.sleep(interval)

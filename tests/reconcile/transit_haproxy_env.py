"""ServerlessTransit (haproxy) test support: a sandbox cloud whose VMSS instances apply HAProxy configs the way the apply script does, and a helper
that builds a ServerlessTransit's surroundings (VNet, ConfluentPrivateLink, workspaces) and drives passes.

Not a conftest (tests/reconcile/conftest.py serves the ConfluentPrivateLink tests): test modules import
the `*_fixture` functions, which pytest registers under their `name=`."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.network import NetworkManagementClient

from transit_operator.api.status import dump_status
from transit_operator.cloud.context import CloudContext, StaticTokenCredential
from transit_operator.plan.haproxy_config import render_apply_script
from transit_operator.reconcile import transit
from transit_operator.reconcile.outcome import Outcome
from transit_sandbox import conformance
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.server import SandboxCloud
from transit_sandbox.world import create_transit_vnet

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)


def haproxy_check(config: str) -> str | None:
    """The apply script's `haproxy -c` with the real HAProxy (None: the config passes)."""
    assert HAPROXY is not None
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as tmp:
        tmp.write(config)
        tmp.flush()
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", tmp.name], capture_output=True, text=True)
    return None if check.returncode == 0 else "haproxy -c: " + " ".join((check.stdout + check.stderr).split())[:100]


@pytest.fixture(scope="module", name="haproxy_executor")
def haproxy_executor_fixture() -> ConfigExecutor:
    """Instances as the apply script sees them: the config from cloud-init, checked with the real
    `haproxy -c` when installed (instances in `broken_check` fail it), the old file kept when the check
    fails, the script's result line after some HAProxy output."""
    return ConfigExecutor(
        check=haproxy_check if HAPROXY is not None else None,
        expected_script=render_apply_script(),
        output_before="some haproxy noise\n",
    )


@pytest.fixture(scope="module", name="haproxy_cloud_module")
def haproxy_cloud_module_fixture(haproxy_executor: ConfigExecutor) -> Iterator[SandboxCloud]:
    with SandboxCloud(executor=haproxy_executor, check_conformance=True) as cloud:
        yield cloud
        violations = cloud.admin.take_violations()  # every ARM exchange, judged against the specs
        assert violations == [], conformance.report(violations)


@pytest.fixture(name="haproxy_cloud")
def haproxy_cloud_fixture(
    haproxy_cloud_module: SandboxCloud, haproxy_executor: ConfigExecutor
) -> Iterator[SandboxCloud]:
    cloud = haproxy_cloud_module
    cloud.admin.set_lro_seconds(None, 0.05)
    cloud.admin.clear_requests()
    cloud.databricks.clear_request_log()
    haproxy_executor.broken_check.clear()
    yield cloud
    cloud.admin.clear_faults()


LOCATION = "eastus2"
DOMAIN = "n-abc123.eastus2.azure.confluent.cloud"
BOOTSTRAP = f"lkc-xyz12.{DOMAIN}:9092"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt0ZXN0a2V5Zm9ydHJhbnNpdG9wZXJhdG9ydGVzdHM= test"
_workspace_ids = iter(range(7_000_000_000_000_001, 7_000_000_000_100_000))


class Env:
    """One test's world: a resource group with a VNet, a Ready ConfluentPrivateLink (as the runtime would
    hand it over), a workspace, a ServerlessTransit body, and a CloudContext on the sandbox."""

    def __init__(self, cloud: SandboxCloud, executor: ConfigExecutor, name: str) -> None:
        self.cloud, self.executor = cloud, executor
        self.rg = f"rg-{name}"[:80]
        self.sub = cloud.subscription_id
        self.network = NetworkManagementClient(
            StaticTokenCredential(cloud.token),
            self.sub,
            base_url=cloud.arm_url,
            connection_verify=cloud.ca_bundle,
            polling_interval=0.05,
        )
        self.vnet_id = f"/subscriptions/{self.sub}/resourceGroups/{self.rg}/providers/Microsoft.Network/virtualNetworks/vnet"
        create_transit_vnet(self.network, self.rg, LOCATION)
        self.workspace_id = next(_workspace_ids)
        cloud.databricks.add_workspace(self.workspace_id, LOCATION, f"ws-{name}"[:60])
        self.calls: list[tuple[str, str]] = []
        self.on_call: list[Any] = []
        self.ctx = CloudContext.for_sandbox(
            cloud.arm_url,
            cloud.ca_bundle,
            cloud.token,
            cloud.databricks_url,
            polling_interval=0.05,
            call_hook=self._hook,
        )
        self.cpl: dict[str, Any] = {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ConfluentPrivateLink",
            "metadata": {"name": "confluent", "namespace": "team-a", "uid": "cpl-uid", "generation": 1},
            "spec": {
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                "confluent": {
                    "networkId": "n-abc123",
                    "dnsDomain": DOMAIN,
                    "bootstrapServer": BOOTSTRAP,
                    "zones": [
                        {
                            "name": z,
                            "privateLinkServiceAlias": f"s-abc12-privatelink-{i}.0f6a1c5e-1a2b-4c3d-8e9f-00112233445{i}.eastus2.azure.privatelinkservice",
                        }
                        for i, z in enumerate(("az1", "az2", "az3"), start=1)
                    ],
                },
                "privateEndpoints": {"subnetId": f"{self.vnet_id}/subnets/consumers"},
            },
            "status": {
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Reconciled",
                        "message": "",
                        "observedGeneration": 1,
                    }
                ],
                "zones": [
                    {"name": z, "privateIp": f"10.20.3.{4 + i}", "connectionState": "Approved"}
                    for i, z in enumerate(("az1", "az2", "az3"))
                ],
            },
        }
        self.body: dict[str, Any] = {
            "apiVersion": "transit.privatelink.io/v1alpha1",
            "kind": "ServerlessTransit",
            "metadata": {
                "name": "transit",
                "namespace": "team-a",
                "uid": f"uid-{name}"[:60],
                "generation": 1,
            },
            "spec": {
                "option": "haproxy",
                "confluentPrivateLinkRef": {"name": "confluent"},
                "azure": {"subscriptionId": self.sub, "resourceGroup": self.rg, "location": LOCATION},
                "network": {
                    "frontendSubnetId": f"{self.vnet_id}/subnets/transit",
                    "privateLinkSubnetId": f"{self.vnet_id}/subnets/pls",
                },
                "haproxy": {
                    "instanceCount": 3,
                    "zones": ["1", "2", "3"],
                    "sshPublicKey": SSH_KEY,
                    "runCommandConcurrency": 2,
                },
                "databricks": {
                    "accountHost": "https://accounts.azuredatabricks.net",
                    "accountId": cloud.databricks_account_id,
                    "ncc": {"name": f"ncc-{name}"[:30].rstrip("-_")},
                    "workspaceIds": [self.workspace_id],
                },
            },
        }
        self.clear_logs()  # the set-up above is not the operator's doing

    def _hook(self, method: str, url: str) -> None:
        self.calls.append((method, url))
        for callback in self.on_call:
            callback(method, url)

    # --- driving -----------------------------------------------------------------------------------
    def reconcile(self) -> Outcome:
        outcome = transit.reconcile(copy.deepcopy(self.body), copy.deepcopy(self.cpl), self.ctx)
        self.body["status"] = dump_status(outcome.status)
        return outcome

    def until_ready(self, passes: int = 40) -> Outcome:
        outcome = self.reconcile()
        for _ in range(passes):
            if self.ready:
                return outcome
            time.sleep(min(outcome.requeue_after or 0.05, 0.1))
            outcome = self.reconcile()
        raise AssertionError(f"not Ready after {passes} passes: {self.condition('Ready')}")

    def finalize_until_done(self, passes: int = 40) -> Outcome:
        for _ in range(passes):
            outcome = transit.finalize(copy.deepcopy(self.body), self.ctx)
            self.body["status"] = dump_status(outcome.status)
            if outcome.done:
                return outcome
            time.sleep(0.1)
        raise AssertionError(f"finalize not done after {passes} passes: {self.condition('Ready')}")

    # --- reading -------------------------------------------------------------------------------------
    @property
    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    def condition(self, type_: str) -> dict[str, Any]:
        return next((c for c in self.status.get("conditions") or [] if c["type"] == type_), {})

    @property
    def ready(self) -> bool:
        return self.condition("Ready").get("status") == "True"

    @property
    def pls_id(self) -> str:
        return str(self.status["privateLinkResourceId"])

    @property
    def vmss_id(self) -> str:
        return self.pls_id.replace(
            "Microsoft.Network/privateLinkServices/pls-", "Microsoft.Compute/virtualMachineScaleSets/vmss-"
        )

    def arm_writes(self) -> list[tuple[str, str]]:
        return [
            (r.method, r.path)
            for r in self.cloud.admin.writes()
            if f"/resourceGroups/{self.rg}/".lower() in r.path.lower()
        ]

    def run_commands(self) -> list[tuple[str, str]]:
        """Managed run commands started (PUT `.../virtualMachines/{id}/runCommands/{name}`)."""
        return [w for w in self.arm_writes() if w[0] == "PUT" and "/runcommands/" in w[1].lower()]

    def run_command_calls(self) -> list[tuple[str, str]]:
        """Every ARM call on managed run commands (start, read, clean up)."""
        return [(r.method, r.path) for r in self.cloud.admin.requests()
                if "/runcommands" in r.path.lower() and f"/resourceGroups/{self.rg}/".lower() in r.path.lower()]

    def run_commands_left(self) -> dict[str, list[str]]:
        """Run command names still on each instance (read through the SDK)."""
        vmss = self.vmss_id.rsplit("/", 1)[1]
        compute = self.ctx.compute(self.cloud.subscription_id)
        return {
            vm.instance_id: [c.name for c in compute.virtual_machine_scale_set_vm_run_commands.list(self.rg, vmss, vm.instance_id)]
            for vm in compute.virtual_machine_scale_set_vms.list(self.rg, vmss)
        }

    def databricks_writes(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.cloud.databricks.requests() if r.method != "GET"]

    def clear_logs(self) -> None:
        self.cloud.admin.clear_requests()
        self.cloud.databricks.clear_request_log()
        self.calls.clear()

    def set_endpoint_ip(self, zone: str, ip: str) -> None:
        self.cpl = copy.deepcopy(self.cpl)
        for z in self.cpl["status"]["zones"]:
            if z["name"] == zone:
                z["privateIp"] = ip

    def rule(self) -> dict[str, Any]:
        rule_id = self.status["ncc"]["ruleId"]
        return dict(self.cloud.databricks.rules[rule_id])

    def connections(self) -> list[dict[str, Any]]:
        return self.cloud.admin.connections(target_id=self.pls_id)


@pytest.fixture(name="transit_env")
def transit_env_fixture(
    haproxy_cloud: SandboxCloud, haproxy_executor: ConfigExecutor, request: pytest.FixtureRequest
) -> Env:
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[-40:].strip("-")
    return Env(haproxy_cloud, haproxy_executor, name)

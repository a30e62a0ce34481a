"""Shared set-up for the benchmarks: a sandbox cloud, N ConfluentPrivateLinks and N haproxy
ServerlessTransits driven to Ready through the real reconcilers and SDK clients, request counting from the
emulators' logs, and the printing conventions (a table, then `ratio ...` lines).

Not a library. What it shares with tests/reconcile/ comes from the sandbox package (the VNet per resource
group: `transit_sandbox.world`; reading an instance's haproxy.cfg from cloud-init:
`transit_sandbox.executor`), so bench/ never imports tests/.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _bodies import (  # noqa: F401 (re-exported for the benchmarks)
    LOCATION,
    ZONES,
    cpl_body,
    div,
    ratio,
    sxt_body,
    table,
)
from transit_operator.api.status import dump_status
from transit_operator.cloud.context import CloudContext
from transit_operator.plan.haproxy_config import config_hash
from transit_operator.reconcile import confluent, transit
from transit_operator.reconcile.outcome import Outcome
from transit_sandbox.executor import cloud_init_config
from transit_sandbox.server import SandboxCloud
from transit_sandbox.world import create_transit_vnet

_HEX16 = re.compile(r"^[0-9a-f]{16}$")


# --- an instance executor that answers like the apply script ------------------------------------------


@dataclass
class ScriptedExecutor:
    """VMSS instances as the apply script sees them: one haproxy.cfg hash each (from cloud-init on
    creation). `run_command` takes `latency` seconds (Azure's run commands take ~20 s at least; the
    benchmarks scale that down) and prints the script's result line: `applied`, or `unchanged` when the
    instance already runs that hash. No real HAProxy: `bench/dataplane.py` covers that."""

    latency: float = 0.0
    hashes: dict[tuple[str, str], str | None] = field(default_factory=dict)
    commands: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        config = cloud_init_config(custom_data)
        digest = config_hash(config) if config is not None else None
        with self.lock:
            self.hashes[(vmss_id.lower(), instance_id)] = digest

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        with self.lock:
            self.hashes.pop((vmss_id.lower(), instance_id), None)

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        if self.latency:
            time.sleep(self.latency)
        digest = parameters.get("CONFIG_HASH", "")
        key = (vmss_id.lower(), instance_id)
        with self.lock:
            self.commands += 1
            if not _HEX16.match(digest):
                return 2, "TRANSIT_APPLY result=invalid hash=- detail=bad-hash\n", ""
            result = "unchanged" if self.hashes.get(key) == digest else "applied"
            self.hashes[key] = digest
        return 0, f"TRANSIT_APPLY result={result} hash={digest} detail=bench\n", ""


# --- the world: N pairs (ConfluentPrivateLink, ServerlessTransit) -------------------------------------


class Pair:
    """One resource group with a VNet, a ConfluentPrivateLink and an haproxy ServerlessTransit on it."""

    def __init__(self, world: World, index: int, *, instances: int, concurrency: int) -> None:
        cloud = world.cloud
        self.rg = f"rg-bench-{index}"
        sub = cloud.subscription_id
        create_transit_vnet(world.ctx.network(sub), self.rg, LOCATION)
        self.workspace_id = 7_100_000_000_000_000 + index
        cloud.databricks.add_workspace(self.workspace_id, LOCATION, f"ws-bench-{index}")
        self.cpl = cpl_body(index, sub, self.rg)
        self.sxt = sxt_body(
            index, sub, self.rg, cloud.databricks_account_id, self.workspace_id,
            instances=instances, concurrency=concurrency,
        )

    # one pass each, the status written back as the runtime would
    def reconcile_cpl(self, ctx: CloudContext) -> Outcome:
        outcome = confluent.reconcile(copy.deepcopy(self.cpl), ctx)
        self.cpl["status"] = dump_status(outcome.status)
        return outcome

    def reconcile_sxt(self, ctx: CloudContext) -> Outcome:
        outcome = transit.reconcile(copy.deepcopy(self.sxt), copy.deepcopy(self.cpl), ctx)
        self.sxt["status"] = dump_status(outcome.status)
        return outcome

    def set_endpoint_ip(self, zone: str, ip: str) -> None:
        """What the runtime hands the transit after the ConfluentPrivateLink saw a new endpoint IP."""
        for z in self.cpl["status"]["zones"]:
            if z["name"] == zone:
                z["privateIp"] = ip


def ready(body: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (body.get("status") or {}).get("conditions") or []
    )


class World:
    """A sandbox cloud (context manager) with `pairs` brought to Ready."""

    def __init__(self, executor: ScriptedExecutor | None = None) -> None:
        self.executor = executor or ScriptedExecutor()
        self.cloud = SandboxCloud(executor=self.executor)
        self.pairs: list[Pair] = []

    def __enter__(self) -> World:
        self.cloud.start()
        self.cloud.admin.set_lro_seconds(None, 0.05)
        self.cloud.admin.set_confluent_approval_seconds(0.1)
        self.ctx = CloudContext.for_sandbox(
            self.cloud.arm_url,
            self.cloud.ca_bundle,
            self.cloud.token,
            self.cloud.databricks_url,
            polling_interval=0.05,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.cloud.stop()

    def add_pairs(self, n: int, *, instances: int = 3, concurrency: int = 5) -> list[Pair]:
        new = [
            Pair(self, len(self.pairs) + i, instances=instances, concurrency=concurrency) for i in range(n)
        ]
        self.pairs += new
        return new

    def until_ready(self, pairs: Sequence[Pair] | None = None, *, max_passes: int = 60) -> int:
        """Passes over every object until all are Ready (CPLs first: the transits wait for them).
        Returns the number of transit passes the slowest one took."""
        pairs = list(self.pairs if pairs is None else pairs)
        for _ in range(max_passes):
            todo = [p for p in pairs if not ready(p.cpl)]
            if not todo:
                break
            for p in todo:
                p.reconcile_cpl(self.ctx)
            time.sleep(0.05)
        else:
            raise SystemExit(f"ConfluentPrivateLinks not Ready after {max_passes} passes")
        for n in range(1, max_passes + 1):
            todo = [p for p in pairs if not ready(p.sxt)]
            if not todo:
                return n - 1
            for p in todo:
                p.reconcile_sxt(self.ctx)
            if any(not ready(p.sxt) for p in todo):
                time.sleep(0.05)
        raise SystemExit(f"ServerlessTransits not Ready after {max_passes} passes")

    # --- the emulators' request logs ---------------------------------------------------------------
    def clear_logs(self) -> None:
        self.cloud.admin.clear_requests()
        self.cloud.databricks.clear_request_log()

    def counts(self) -> Counts:
        return Counts.of(self.cloud.admin.requests(), self.cloud.databricks.requests())


@dataclass
class Counts:
    """Requests seen by the emulators, by kind."""

    arm_gets: int = 0
    arm_writes: int = 0
    dns_gets: int = 0  # Private DNS (Microsoft.Network/privateDnsZones) GETs, also in arm_gets
    run_commands: int = 0  # managed run commands started (PUT .../runCommands/{name}), also in arm_writes
    run_command_deletes: int = 0  # ... read and cleaned up (DELETE), also in arm_writes
    run_command_reads: int = 0  # GETs of an instance's run commands (with instanceView), also in arm_gets
    dbx_gets: int = 0
    dbx_writes: int = 0

    @classmethod
    def of(cls, arm: Iterable[Any], databricks: Iterable[Any]) -> Counts:
        out = cls()
        for r in arm:
            path = r.path.lower()
            if r.method == "GET":
                out.arm_gets += 1
                out.dns_gets += "/privatednszones/" in path
                out.run_command_reads += path.endswith("/runcommands")
            else:
                out.arm_writes += 1
                out.run_commands += r.method == "PUT" and "/runcommands/" in path
                out.run_command_deletes += r.method == "DELETE" and "/runcommands/" in path
        for r in databricks:
            if r.method == "GET":
                out.dbx_gets += 1
            else:
                out.dbx_writes += 1
        return out

    @property
    def total(self) -> int:
        return self.arm_gets + self.arm_writes + self.dbx_gets + self.dbx_writes

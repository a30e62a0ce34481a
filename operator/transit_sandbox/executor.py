"""What runs "inside" an emulated VMSS instance.

The ARM emulator owns the control plane of a scale set (model, instances, NICs, run-command LROs); what an
instance *does* is delegated to an `InstanceExecutor`. The default one only records the calls; the data
plane (`dataplane.py`) plugs in one that runs each instance as a network namespace with real HAProxy.

Calls arrive from the emulator's worker threads, never under the ARM store lock (a slow executor stalls no
other request), and the calls for one instance come one after the other, in request order:
`instance_created` when an instance is created or reimaged (with its decoded customData, i.e. what
cloud-init would get on first boot), `instance_deleted` when it goes away (also before a reimage), and
`run_command` for the `runCommand` action, which must return `(exit_code, stdout, stderr)`. The ARM
operation that caused a call completes only once it has returned; an exception from `instance_created`
fails the instance (`OSProvisioningClientError`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import yaml

from transit_sandbox.limits import load_yaml


class InstanceExecutor(Protocol):
    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None: ...

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None: ...

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]: ...


@dataclass
class RecordedCommand:
    vmss_id: str
    instance_id: str
    script: list[str]
    parameters: dict[str, str]


@dataclass
class RecordingExecutor:
    """Remembers what each instance was given; `run_command` answers `result` (default `(0, "", "")`).

    `instances` maps `(vmss_id lower-cased, instance_id)` to the customData the live instance booted with.
    """

    result: tuple[int, str, str] = (0, "", "")
    instances: dict[tuple[str, str], bytes | None] = field(default_factory=dict)
    commands: list[RecordedCommand] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        with self._lock:
            self.instances[(vmss_id.lower(), instance_id)] = custom_data
            self.events.append(("created", vmss_id, instance_id))

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        with self._lock:
            self.instances.pop((vmss_id.lower(), instance_id), None)
            self.events.append(("deleted", vmss_id, instance_id))

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        with self._lock:
            self.commands.append(RecordedCommand(vmss_id, instance_id, list(script), dict(parameters)))
        return self.result


# The apply script's contract (plan/haproxy_config.py `render_apply_script`, docs/architecture.md "Sandbox cloud"): it is
# given CONFIG_B64 and CONFIG_HASH (first 16 hex digits of the config's SHA-256), and its last stdout line
# is `TRANSIT_APPLY result=<applied|unchanged|invalid|failed> hash=<hash or -> detail=<text>`.
_APPLY_RESULT = "TRANSIT_APPLY result={result} hash={hash} detail={detail}"
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_CLOUD_INIT_CONFIG = "/etc/haproxy/haproxy.cfg"


def cloud_init_config(custom_data: bytes | None) -> str | None:
    """The `haproxy.cfg` an instance's cloud-init customData writes (`write_files`, base64 or plain), or
    None when it writes none. Raises (YAML, base64, UTF-8, shape errors) on customData it cannot read."""
    config = None
    doc = load_yaml((custom_data or b"").decode()) or {}
    for item in doc.get("write_files", []) if isinstance(doc, dict) else []:
        if item.get("path") == _CLOUD_INIT_CONFIG:
            content = item.get("content", "")
            config = base64.b64decode(content).decode() if item.get("encoding") == "b64" else content
    return config


def _config_hash(config: str) -> str:
    return hashlib.sha256(config.encode("utf-8")).hexdigest()[:16]


def apply_parameters(config: str) -> dict[str, str]:
    """The run-command parameters the apply script takes for `config` (CONFIG_B64, CONFIG_HASH)."""
    return {"CONFIG_B64": base64.b64encode(config.encode("utf-8")).decode("ascii"), "CONFIG_HASH": _config_hash(config)}


# A check of a config before it replaces the running one, as the apply script's `haproxy -c`: None when
# the config passes, else what the check printed.
ConfigCheck = Callable[[str], "str | None"]
# What an instance whose check fails for any config prints (an instance with an older HAProxy, say).
BROKEN_CHECK_DETAIL = "haproxy -c: [ALERT] (12) : config : parsing [/etc/haproxy/.haproxy.cfg.X:20]"


@dataclass(frozen=True)
class AppliedCommand:
    """One `run_command` as the apply script ended it."""

    vmss: str
    instance: str
    config_hash: str
    result: str  # applied | unchanged | invalid


# The backend health script's contract (plan/haproxy_config.py `render_backend_health_script`): no
# parameters; one `TRANSIT_SERVER` line per checked server (the servers of `bk_all_<port>`), then
# `TRANSIT_HEALTH result=<healthy|degraded|down|unknown> hash=<hash or -> instance=<host> up=<n> down=<n>
# mismatched=<n> detail=<text>`; exit 1 when HAProxy could not be asked.
HEALTH_SCRIPT_MARKER = "# transit-haproxy-health"
_BACKEND = re.compile(r"^backend (bk_all_([0-9]+))$")
_SERVER = re.compile(r"^server (az[0-9]+) ([0-9.]+):([0-9]+) ")


def checked_servers(config: str) -> list[tuple[str, str, int]]:
    """(zone, address, port) of the servers HAProxy health-checks in `config` (those of `bk_all_<port>`)."""
    servers: list[tuple[str, str, int]] = []
    in_checked = False
    for raw in config.splitlines():
        line = raw.strip()
        if line.startswith(("backend ", "frontend ", "listen ", "defaults", "global")):
            in_checked = bool(_BACKEND.match(line))
            continue
        match = _SERVER.match(line) if in_checked else None
        if match:
            servers.append((match.group(1), match.group(2), int(match.group(3))))
    return servers


@dataclass
class ConfigExecutor:
    """Instances that keep an HAProxy config the way the apply script does, without running HAProxy.

    Each instance boots with the `haproxy.cfg` its cloud-init customData writes; `run_command` with
    `CONFIG_B64`/`CONFIG_HASH` answers like the apply script (the same `invalid` details): `invalid` when
    the parameters are malformed or the hash does not match the decoded config, `unchanged` when the
    instance already runs it, `invalid` keeping the old config when `check` refuses it (or the instance is
    in `broken_check`), else `applied`. Without a `check` every config passes (real `haproxy -c` is the data
    plane's job, `--dataplane`). `expected_script`: the apply script every command must carry (an
    AssertionError otherwise). Enough for the control plane to converge in the sandbox.

    The backend health script (`HEALTH_SCRIPT_MARKER`) is answered like HAProxy would answer it: each
    checked server of the instance's config UP when `backend_probe(address, port)` says something answers
    there (the sandbox cloud plugs in the ARM state: `arm.network.backend_address_health`), and HAProxy not
    answering at all on an instance in `haproxy_down` (a crashed or stopped HAProxy).
    """

    check: ConfigCheck | None = None
    expected_script: list[str] | None = None
    broken_check: set[str] = field(default_factory=set)  # instance ids whose check fails
    output_before: str = ""  # what the script prints before its result line (HAProxy's own output)
    configs: dict[tuple[str, str], str | None] = field(default_factory=dict)
    commands: list[RecordedCommand] = field(default_factory=list)
    applied: list[AppliedCommand] = field(default_factory=list)
    haproxy_down: set[tuple[str, str]] = field(default_factory=set)  # (vmss id lower-cased, instance id)
    backend_probe: Callable[[str, int], bool] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop_haproxy(self, vmss_id: str, instance_id: str, stopped: bool = True) -> None:
        with self._lock:
            (self.haproxy_down.add if stopped else self.haproxy_down.discard)((vmss_id.lower(), instance_id))

    def _health(self, key: tuple[str, str]) -> tuple[int, str, str]:
        host = f"vmss-{key[1]}"
        with self._lock:  # the probe reads the cloud's state: not under this lock
            down_here, config = key in self.haproxy_down, self.configs.get(key) or ""
        if down_here:
            return 1, (f"TRANSIT_HEALTH result=unknown hash=- instance={host} up=0 down=0 mismatched=0 "
                       "detail=haproxy-not-answering:ConnectionRefusedError\n"), ""
        digest = _config_hash(config) if config else "-"
        lines, up, down = [], 0, 0
        for zone, address, port in sorted(checked_servers(config), key=lambda s: (s[0], s[2])):
            ok = self.backend_probe(address, port) if self.backend_probe is not None else True
            up, down = up + ok, down + (not ok)
            state, check = ("UP", "L6OK") if ok else ("DOWN", "L4TOUT")
            lines.append(f"TRANSIT_SERVER zone={zone} port={port} addr={address}:{port} state={state} "
                         f"check={check} check_ms=1 since_s=0")
        result = "unknown" if not lines else "healthy" if not down else "down" if not up else "degraded"
        lines.append(f"TRANSIT_HEALTH result={result} hash={digest} instance={host} up={up} down={down} "
                     f"mismatched=0 detail={'no-servers' if not lines else '-'}")
        return 0, "\n".join(lines) + "\n", ""

    def instance_created(self, vmss_id: str, instance_id: str, custom_data: bytes | None) -> None:
        try:
            config = cloud_init_config(custom_data)
        except (yaml.YAMLError, ValueError, UnicodeDecodeError, AttributeError):
            config = None  # not a cloud-config we understand: the instance starts without a config
        with self._lock:
            self.configs[(vmss_id.lower(), instance_id)] = config

    def instance_deleted(self, vmss_id: str, instance_id: str) -> None:
        with self._lock:
            self.configs.pop((vmss_id.lower(), instance_id), None)

    def run_command(
        self, vmss_id: str, instance_id: str, script: list[str], parameters: dict[str, str]
    ) -> tuple[int, str, str]:
        with self._lock:
            self.commands.append(RecordedCommand(vmss_id, instance_id, list(script), dict(parameters)))
        if any(line.strip() == HEALTH_SCRIPT_MARKER or line.startswith(f"{HEALTH_SCRIPT_MARKER}:")
               for line in script[:3]):
            return self._health((vmss_id.lower(), instance_id))
        if self.expected_script is not None:
            assert list(script) == self.expected_script, "the operator must send the apply script as is"
        digest = parameters.get("CONFIG_HASH", "")
        result, detail, code = self._apply((vmss_id.lower(), instance_id), digest, parameters.get("CONFIG_B64", ""))
        with self._lock:
            self.applied.append(AppliedCommand(vmss_id, instance_id, digest, result))
        shown = digest if _HEX16.match(digest) else "-"
        return code, self.output_before + _APPLY_RESULT.format(result=result, hash=shown, detail=detail) + "\n", ""

    def _apply(self, key: tuple[str, str], digest: str, b64: str) -> tuple[str, str, int]:
        if not _HEX16.match(digest):
            return "invalid", "CONFIG_HASH is not 16 lowercase hex characters", 2
        try:
            config = base64.b64decode(b64, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "invalid", "CONFIG_B64 does not decode", 2
        if _config_hash(config) != digest:
            return "invalid", "decoded config does not match CONFIG_HASH", 2
        with self._lock:
            current = self.configs.get(key)
        if current is not None and _config_hash(current) == digest:
            return "unchanged", "already-applied", 0
        refused = BROKEN_CHECK_DETAIL if key[1] in self.broken_check else self.check(config) if self.check else None
        if refused is not None:
            return "invalid", refused, 2
        with self._lock:
            self.configs[key] = config
        return "applied", "reloaded", 0

    def runs(self) -> list[AppliedCommand]:
        """Every command so far, as the script ended it."""
        with self._lock:
            return list(self.applied)

    def hashes(self, vmss_id: str) -> dict[str, str | None]:
        """Instance id -> the hash of the config it runs (None: none yet), for one scale set."""
        with self._lock:
            return {
                instance: (_config_hash(config) if config is not None else None)
                for (vmss, instance), config in self.configs.items()
                if vmss == vmss_id.lower()
            }

"""The apply script, run through NetnsExecutor.run_command as Azure's RunShellScript would run it."""

from __future__ import annotations

import hashlib

import pytest

from transit_operator.plan.haproxy_config import (
    CONFIG_PATH,
    config_hash,
    render_apply_script,
    render_cloud_init,
)
from transit_sandbox.confluent_zones import ConfluentZones
from transit_sandbox.dataplane import NetnsExecutor

from .conftest import VMSS, Client, apply, render


def healthz(client: Client, executor: NetnsExecutor, instance: str) -> int:
    return client.http_status(f"http://{executor.address(VMSS, instance)}:8404/healthz")


def test_apply_starts_haproxy_then_is_a_noop_then_reloads_in_place(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client
) -> None:
    executor.instance_created(VMSS, "0", None)  # a VM with the haproxy package and nothing else
    config = render(zones)

    rc, first = apply(executor, "0", config)
    assert (rc, first.result, first.hash, first.detail) == (0, "applied", config_hash(config), "started")
    master = executor.haproxy_master_pid(VMSS, "0")
    assert master is not None
    assert executor.read_file(VMSS, "0", CONFIG_PATH) == config.encode()
    assert healthz(client, executor, "0") == 200

    rc, second = apply(executor, "0", config)
    assert (rc, second.result, second.detail) == (0, "unchanged", "already-applied")

    changed = render(zones, drop=("az3",))
    rc, third = apply(executor, "0", changed)
    assert (rc, third.result, third.hash, third.detail) == (0, "applied", config_hash(changed), "reloaded")
    assert executor.haproxy_master_pid(VMSS, "0") == master  # reloaded by signal, not restarted
    assert executor.read_file(VMSS, "0", CONFIG_PATH) == changed.encode()


BROKEN = "global\n    this-is-not-a-keyword\n"


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        pytest.param(
            lambda good: (good + "# tampered\n", config_hash(good)), "does not match", id="hash-mismatch"
        ),
        pytest.param(lambda good: (BROKEN, config_hash(BROKEN)), "haproxy -c", id="haproxy-check-fails"),
        pytest.param(lambda good: (good, "not-hex"), "CONFIG_HASH", id="hash-not-hex"),
    ],
)
def test_invalid_config_is_refused_and_the_old_one_keeps_running(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client, make: object, detail: str
) -> None:
    executor.instance_created(VMSS, "1", None)
    good = render(zones)
    assert apply(executor, "1", good)[1].result == "applied"
    master = executor.haproxy_master_pid(VMSS, "1")

    config, digest = make(good)  # type: ignore[operator]
    rc, result = apply(executor, "1", config, digest)
    assert rc == 2 and result.result == "invalid" and detail in result.detail, result
    assert executor.read_file(VMSS, "1", CONFIG_PATH) == good.encode()
    assert executor.haproxy_master_pid(VMSS, "1") == master
    assert healthz(client, executor, "1") == 200


def test_config_that_fails_to_load_is_rolled_back(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client
) -> None:
    # `haproxy -c` does not bind, so an address the instance does not have passes the check and only
    # fails when the new workers start: the script must notice and go back to the previous file.
    executor.instance_created(VMSS, "2", None)
    good = render(zones)
    assert apply(executor, "2", good)[1].result == "applied"
    unbindable = good.replace("    bind :9092\n", "    bind 192.0.2.99:9092\n")
    rc, result = apply(executor, "2", unbindable)
    assert rc == 1 and result.result == "failed" and "rolled back" in result.detail, result
    assert hashlib.sha256(executor.read_file(VMSS, "2", CONFIG_PATH)).hexdigest()[:16] == config_hash(good)
    assert healthz(client, executor, "2") == 200
    assert client.tls(f"b0.az1.{zones.domain}", connect_to=executor.address(VMSS, "2"))  # still serving


def test_cloud_init_starts_haproxy_and_the_same_config_is_then_unchanged(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client
) -> None:
    config = render(zones)
    custom_data = render_cloud_init(config=config, apply_script=render_apply_script())
    executor.instance_created(VMSS, "3", custom_data.encode())
    log = "\n".join(executor.boot_log(VMSS, "3"))
    assert "TRANSIT_APPLY result=applied" in log, log
    assert healthz(client, executor, "3") == 200
    rc, result = apply(executor, "3", config)
    assert (rc, result.result) == (0, "unchanged")


def test_deleting_an_instance_stops_haproxy_and_removes_its_namespace(
    executor: NetnsExecutor, zones: ConfluentZones, client: Client
) -> None:
    executor.instance_created(VMSS, "4", None)
    assert apply(executor, "4", render(zones))[1].result == "applied"
    address = executor.address(VMSS, "4")
    executor.instance_deleted(VMSS, "4")
    assert (VMSS, "4") not in executor.instances()
    assert client.http_status(f"http://{address}:8404/healthz") == 0

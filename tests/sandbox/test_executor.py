"""transit_sandbox.executor.ConfigExecutor: the apply script's answers without HAProxy, with an optional check
(the reconcile tests plug the real `haproxy -c` in) and instances whose check always fails."""

from __future__ import annotations

import base64

import pytest
import yaml

from transit_sandbox.executor import BROKEN_CHECK_DETAIL, ConfigExecutor, apply_parameters

VMSS = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss"
OLD, NEW = "global\n# old\n", "global\n# new\n"
SCRIPT = ["#!/bin/sh", "apply"]


def boot(executor: ConfigExecutor, instance: str, config: str) -> None:
    cloud_init = {"write_files": [{"path": "/etc/haproxy/haproxy.cfg", "encoding": "b64",
                                   "content": base64.b64encode(config.encode()).decode()}]}
    executor.instance_created(VMSS, instance, ("#cloud-config\n" + yaml.safe_dump(cloud_init)).encode())


def last_line(stdout: str) -> str:
    return stdout.strip().splitlines()[-1]


def test_applies_then_reports_unchanged_and_keeps_the_hashes() -> None:
    executor = ConfigExecutor(output_before="[NOTICE] haproxy says something\n")
    boot(executor, "0", OLD)
    params = apply_parameters(NEW)

    code, out, _ = executor.run_command(VMSS, "0", SCRIPT, params)
    assert (code, last_line(out)) == (0, f"TRANSIT_APPLY result=applied hash={params['CONFIG_HASH']} detail=reloaded")
    assert out.startswith("[NOTICE] haproxy says something\n")
    code, out, _ = executor.run_command(VMSS, "0", SCRIPT, params)
    assert (code, last_line(out)) == (0, f"TRANSIT_APPLY result=unchanged hash={params['CONFIG_HASH']} "
                                         "detail=already-applied")
    assert [(c.instance, c.result) for c in executor.runs()] == [("0", "applied"), ("0", "unchanged")]
    assert executor.hashes(VMSS.upper()) == {"0": params["CONFIG_HASH"]}


@pytest.mark.parametrize(("params", "detail"), [
    ({"CONFIG_B64": "", "CONFIG_HASH": "ABC"}, "CONFIG_HASH is not 16 lowercase hex characters"),
    ({"CONFIG_B64": "%%%", "CONFIG_HASH": "0" * 16}, "CONFIG_B64 does not decode"),
    ({**apply_parameters(NEW), "CONFIG_HASH": "0" * 16}, "decoded config does not match CONFIG_HASH"),
], ids=["hash", "base64", "mismatch"])
def test_malformed_parameters_are_invalid_with_the_script_s_words(params: dict[str, str], detail: str) -> None:
    executor = ConfigExecutor()
    boot(executor, "0", OLD)
    code, out, _ = executor.run_command(VMSS, "0", SCRIPT, params)
    assert code == 2 and last_line(out).endswith(f"detail={detail}") and "result=invalid" in out
    assert executor.hashes(VMSS) == {"0": apply_parameters(OLD)["CONFIG_HASH"]}


def test_a_refused_check_keeps_the_old_config() -> None:
    executor = ConfigExecutor(check=lambda config: "haproxy -c: bad" if "new" in config else None)
    boot(executor, "0", OLD)
    boot(executor, "1", OLD)
    executor.broken_check.add("1")

    assert executor.run_command(VMSS, "0", SCRIPT, apply_parameters(NEW))[0] == 2
    code, out, _ = executor.run_command(VMSS, "1", SCRIPT, apply_parameters(OLD + "# other\n"))
    assert code == 2 and last_line(out).endswith(f"detail={BROKEN_CHECK_DETAIL}")
    assert set(executor.hashes(VMSS).values()) == {apply_parameters(OLD)["CONFIG_HASH"]}

    executor.broken_check.clear()
    assert executor.run_command(VMSS, "1", SCRIPT, apply_parameters(OLD + "# other\n"))[0] == 0


def test_an_unexpected_script_is_an_assertion() -> None:
    executor = ConfigExecutor(expected_script=SCRIPT)
    boot(executor, "0", OLD)
    with pytest.raises(AssertionError, match="apply script as is"):
        executor.run_command(VMSS, "0", [*SCRIPT, "rm -rf /"], apply_parameters(NEW))

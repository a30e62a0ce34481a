"""Repeated failures back off exponentially and turn Stalled, through the whole operator in the sandbox.

Two failures that used to run away, each with its writes counted over a bounded window:

- a Databricks NCC rule that keeps ending CREATE_FAILED (the Private Link Service is not visible to
  Databricks' subscription) was deleted and re-created on every pass: 137 creates and 137 deletes in ~75 s;
- a private endpoint whose provisioning keeps ending `Failed` was PUT again on every pass, with no cap.

The operator runs at `--time-scale 0.01`: the backoff's 5 s base and 300 s cap become 0.05 s and 3 s, and
every pass the reconcilers ask for after 5 s comes after 0.05 s - so an unbounded loop would make hundreds
of writes in the window, a backed-off one a handful.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from transit_sandbox.kube import KubeEmulator

from .corpus import BASE_CPL, LOCATION, account_of, cpl_document, transit_document, workspace_of
from .harness import apply, ready_condition, sandbox, sandboxed_operator

pytestmark = pytest.mark.slow
WINDOW = 10.0  # seconds of wall time = about 17 minutes of operator time at this time scale


async def until(probe: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {timeout}s")


def stalled(kube: KubeEmulator, document: dict[str, Any]) -> dict[str, Any] | None:
    obj = kube.client().get(document["apiVersion"], document["kind"], document["metadata"]["name"],
                            document["metadata"]["namespace"])
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return dict(condition)
    return None


async def test_a_rule_databricks_keeps_failing_is_replaced_with_backoff_then_stalled() -> None:
    index = 900
    transit = transit_document("invisible", index)
    # Databricks creates the rule's endpoint from its own subscription: a PLS visible only to another
    # subscription makes every rule end CREATE_FAILED, and a replacement fails the same way.
    transit["spec"]["haproxy"]["privateLinkVisibility"] = ["33333333-4444-5555-6666-777777777777"]
    with sandbox() as (cloud, kube):
        cloud.databricks.add_account(account_of(index))
        cloud.databricks.add_workspace(workspace_of(index), LOCATION, "ws", account_id=account_of(index))
        async with sandboxed_operator(cloud, kube):
            assert apply(kube, BASE_CPL) is None and apply(kube, transit) is None

            def rule_writes(method: str) -> list[Any]:
                return [r for r in cloud.databricks.requests()
                        if r.method == method and "/private-endpoint-rules" in r.path]

            await until(lambda: rule_writes("POST"))
            started = time.monotonic()
            condition = await until(lambda: stalled(kube, transit), timeout=WINDOW)
            await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - started)))
            creates, deletes = len(rule_writes("POST")), len(rule_writes("DELETE"))
    assert condition["reason"] == "NccRuleFailed" and "CREATE_FAILED" in condition["message"]
    # Unbounded: a create and a delete every ~0.05 s, hundreds in the window. Backed off: 0.05, 0.1, 0.2,
    # 0.4, 0.8, 1.6 s, then the 3 s cap (+-20 %): about nine.
    assert 5 <= creates <= 14 and abs(creates - deletes) <= 1, (creates, deletes)


async def test_an_endpoint_whose_provisioning_keeps_failing_is_rewritten_with_backoff_then_stalled() -> None:
    cpl = cpl_document("failing", "rg-h-failing")
    with sandbox() as (cloud, kube):
        cloud.admin.fail_lro("/resourcegroups/rg-h-failing/providers/microsoft.network/privateendpoints/",
                             code="InternalServerError", message="Injected provisioning failure.", count=100_000)
        async with sandboxed_operator(cloud, kube):
            assert apply(kube, cpl) is None

            def endpoint_puts() -> list[Any]:
                return [r for r in cloud.admin.requests("PUT", "/privateEndpoints/") if "rg-h-failing" in r.path]

            await until(endpoint_puts)
            started = time.monotonic()
            condition = await until(lambda: stalled(kube, cpl), timeout=WINDOW)
            await asyncio.sleep(max(0.0, WINDOW - (time.monotonic() - started)))
            puts = len(endpoint_puts())
            ready = ready_condition(kube, cpl)
    assert condition["reason"] == "ProvisioningFailed" and "provisioningState Failed" in condition["message"]
    assert ready is not None and ready["status"] == "False"
    assert 5 <= puts <= 14, puts

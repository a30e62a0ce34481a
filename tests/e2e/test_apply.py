"""Apply -> Ready for both kinds and both options; a spec update is followed by observedGeneration;
invalid CRs are refused by the API server's schema (as `kubectl apply` shows it) or reported as Stalled
with the field path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from transit_operator.runtime.sandbox import condition

from .conftest import CPL, SXT, System, eventually, of_kind

OPTIONS = [pytest.param("haproxy", id="haproxy"), pytest.param("applicationGateway", id="applicationGateway")]


@pytest.mark.parametrize("option", OPTIONS)
async def test_applied_example_becomes_ready_for_both_kinds(system: System, option: str) -> None:
    documents = system.example(option)
    system.apply_all(documents)

    cpl = await system.ready(of_kind(documents, CPL))
    transit = await system.ready(of_kind(documents, SXT))

    assert cpl["status"]["observedGeneration"] == 1
    assert all(zone["connectionState"] == "Approved" and zone["privateIp"] for zone in cpl["status"]["zones"])
    assert condition(transit, "NccRuleEstablished")["status"] == "True"
    assert condition(transit, "Stalled").get("status", "False") == "False"
    workspace_id = of_kind(documents, SXT)["spec"]["databricks"]["workspaceIds"][0]
    ncc_id = system.cloud.databricks.workspaces[workspace_id]["network_connectivity_config_id"]
    assert ncc_id and transit["status"]["ncc"]["id"] == ncc_id  # the workspace is bound to our NCC


async def test_spec_update_is_reconciled_and_observed_generation_follows(system: System) -> None:
    documents = system.example("haproxy")
    system.apply_all(documents)
    cpl_doc = of_kind(documents, CPL)
    await system.ready(cpl_doc)
    await system.ready(of_kind(documents, SXT))

    system.patch_spec(cpl_doc, {"dns": {"ttl": 120}})
    cpl = await system.ready(cpl_doc)  # Ready for generation 2

    assert cpl["metadata"]["generation"] == 2
    assert cpl["status"]["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in cpl["status"]["conditions"]} == {2}
    records = [doc for doc in system.arm_resources().values()
               if doc["type"].lower() == "microsoft.network/privatednszones/a"]
    assert records and {doc["properties"]["ttl"] for doc in records} == {120}


@pytest.mark.parametrize(("change", "field"), [
    pytest.param(lambda spec: spec.update(ports=[]), "spec.ports", id="too-few-ports"),
    pytest.param(lambda spec: spec["azure"].update(subscriptionId="not-a-guid"), "spec.azure.subscriptionId",
                 id="pattern"),
    pytest.param(lambda spec: spec.update(option="nginx"), "spec.option", id="enum"),
])
async def test_api_server_refuses_an_invalid_cr_naming_the_field(
        system: System, kubectl: Callable[..., Any], change: object, field: str) -> None:
    transit = of_kind(system.example("haproxy"), SXT)
    change(transit["spec"])  # type: ignore[operator]
    system.prepare([transit])

    refused = kubectl("apply", "-f", "-", kubeconfig=system.cluster.kubeconfig, check=False,
                      stdin=yaml.safe_dump(transit))

    assert refused.returncode != 0
    assert f'The ServerlessTransit "{transit["metadata"]["name"]}" is invalid' in refused.stderr
    assert f"{field}:" in refused.stderr
    assert system.get(transit) is None


async def test_cr_the_schema_cannot_judge_is_stalled_with_the_field_path_and_nothing_is_created(
        system: System) -> None:
    documents = system.example("haproxy")
    transit = of_kind(documents, SXT)
    transit["spec"]["haproxy"]["adminUsername"] = "admin"  # matches the pattern; Azure refuses the name
    system.apply_all(documents)

    stalled = await eventually(lambda: condition(system.get(transit), "Stalled").get("status") == "True"
                               and condition(system.get(transit), "Stalled"))

    assert stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith("spec.haproxy.adminUsername:")
    assert condition(system.get(transit), "Ready")["status"] == "False"
    assert system.arm_counts(transit["spec"]["azure"]["resourceGroup"]) == {}

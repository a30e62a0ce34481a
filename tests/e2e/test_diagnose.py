"""`kubectl annotate serverlesstransit NAME transit.privatelink.io/diagnose=<value>` against the running
operator: one diagnosis, written to `status.diagnosis` with `DataPathHealthy` and told in an Event; a second
value within the rate limit is refused with a Warning Event and answered by nothing."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import yaml

from transit_operator.runtime.sandbox import condition

from .conftest import SXT, System, eventually, of_kind

ANNOTATION = "transit.privatelink.io/diagnose"


def annotate(system: System, doc: dict[str, Any], value: str) -> None:
    meta = doc["metadata"]
    system.cluster.patch(doc["apiVersion"], doc["kind"], meta["name"], system.namespace,
                         {"metadata": {"annotations": {ANNOTATION: value}}})


def events(system: System, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in system.cluster.list_objects("v1", "Event", system.namespace)
            if e["involvedObject"]["name"] == name and e.get("reason") == reason]


@pytest.mark.parametrize("option", ["applicationGateway", "haproxy"])
async def test_annotate_runs_one_diagnosis_and_refuses_the_next_within_the_limit(system: System, option: str) -> None:
    documents = system.example(option)
    system.apply_all(documents)
    doc = of_kind(documents, SXT)
    await system.ready(doc)

    annotate(system, doc, "first")
    transit = await eventually(
        lambda: (obj := system.get(doc)) and (obj.get("status") or {}).get("diagnosis", {}).get("request") == "first"
        and obj)
    diagnosis = transit["status"]["diagnosis"]
    assert [h["verdict"] for h in diagnosis["hops"]] == ["Healthy"] * 5, diagnosis["hops"]
    assert condition(transit, "DataPathHealthy")["status"] == "True"
    assert condition(transit, "Ready")["status"] == "True"
    name = doc["metadata"]["name"]
    await eventually(lambda: events(system, name, "DataPathDiagnosed"))

    annotate(system, doc, "second")
    (refused,) = await eventually(lambda: events(system, name, "DiagnosisRefused"))
    assert refused["type"] == "Warning" and "at most one every 60s" in refused["message"]
    assert system.get(doc)["status"]["diagnosis"]["request"] == "first"  # type: ignore[index]


@pytest.mark.parametrize("source", ["cluster", "file"])
async def test_the_diagnose_command_prints_the_same_from_a_terminal(
        system: System, source: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from transit_operator.cli import main

    documents = system.example("applicationGateway")
    system.apply_all(documents)
    doc = of_kind(documents, SXT)
    await system.ready(doc)
    await system.ready(of_kind(documents, "ConfluentPrivateLink"))
    cloud = system.cloud
    flags = [f"--kubeconfig={system.cluster.kubeconfig}", f"--arm-endpoint={cloud.arm_url}",
             f"--arm-token={cloud.token}", f"--ca-bundle={cloud.ca_bundle}", f"--databricks-host={cloud.databricks_url}",
             "--time-scale=0.01"]
    name = doc["metadata"]["name"]
    if source == "cluster":
        argv = ["diagnose", "-n", system.namespace, name, *flags]
    else:  # what `kubectl get serverlesstransit,confluentprivatelink -o yaml` would give, one document each
        path = tmp_path / "objects.yaml"
        path.write_text(yaml.safe_dump_all([system.get(doc), system.get(of_kind(documents, "ConfluentPrivateLink"))]))
        argv = ["diagnose", "-f", str(path), "-o", "json", *flags]
    before = system.get(doc)

    code = await asyncio.to_thread(main, argv)

    printed = capsys.readouterr().out
    assert code == 0, printed
    if source == "cluster":
        for hop in ("nccRule", "proxy", "privateEndpoints", "backends", "dnsRecords"):
            assert re.search(rf"^  {hop} +Healthy ", printed, re.MULTILINE), printed
        assert printed.rstrip().endswith("DataPathHealthy=True: healthy")
    else:
        answer = json.loads(printed)
        assert answer["diagnosis"]["trigger"] == "command"
        assert {h["verdict"] for h in answer["diagnosis"]["hops"]} == {"Healthy"}
    after = system.get(doc)
    assert (after or {}).get("status", {}).get("diagnosis") == (before or {}).get("status", {}).get("diagnosis")

"""The operator's CRDs through Helm on a real kube-apiserver: `helm upgrade` upgrades them (they are chart
templates; Helm installs files in crds/ once and never upgrades them), `helm uninstall` keeps them and the
custom resources (crds.keep), crds.enabled=false installs none, and a release of chart 0.1.0's layout (the
CRDs in crds/) is refused by Helm until the adoption commands docs/gitops.md gives have run, then upgrades.

Each test has an API server of its own (`fresh_real_kube_server`): CRDs are cluster-scoped, and these tests
change, relabel and delete the very CRDs the other real-server tests use."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.runtime.sandbox import example_files, load_documents
from transit_sandbox.kube import ApiError, KubeClient, RealApiServer

from .conftest import CHART, REPO

pytestmark = [pytest.mark.real_kube, pytest.mark.slow]

# The release and namespace docs/gitops.md's commands are written for.
RELEASE, NAMESPACE = "transit-operator", "transit-operator-system"
CRD_API = "apiextensions.k8s.io/v1"
CRDS = sorted(yaml.safe_load(path.read_text())["metadata"]["name"]
              for path in (CHART / "files" / "crds").glob("*.yaml"))
# What the next chart version changes in every operator CRD: a new optional spec field, and a printer column
# showing it.
NEW_FIELD, NEW_COLUMN = "upgradeMarker", "UpgradeMarker"
OLD_LAYOUT_VERSION = "0.1.0"  # the last chart with the operator's CRDs in crds/
_major, _minor, _ = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"].split(".")
NEXT_VERSION = f"{_major}.{int(_minor) + 1}.0"  # the chart's next version, with a CRD change


def chart_version(tmp_path: Path, version: str, *, new_field: bool = False, crds_folder: bool = False) -> Path:
    """A copy of the chart as `version`: with `new_field` added to each operator CRD, or in chart 0.1.0's
    layout (`crds_folder`: the operator's CRDs as files in crds/, no CRD templates)."""
    chart = tmp_path / f"transit-operator-{version}"
    shutil.copytree(CHART, chart)
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    (chart / "Chart.yaml").write_text(yaml.safe_dump({**meta, "version": version}, sort_keys=False))
    for path in (chart / "files" / "crds").glob("*.yaml"):
        if new_field:
            crd = yaml.safe_load(path.read_text())
            for served in crd["spec"]["versions"]:
                spec = served["schema"]["openAPIV3Schema"]["properties"]["spec"]
                spec["properties"][NEW_FIELD] = {"type": "string", "description": "Added by the next chart version."}
                served["additionalPrinterColumns"].append(
                    {"name": NEW_COLUMN, "type": "string", "jsonPath": f".spec.{NEW_FIELD}", "priority": 1})
            # sort_keys=False: the template copies everything from the file's last key, `spec:`, on.
            path.write_text(yaml.safe_dump(crd, sort_keys=False))
        if crds_folder:
            path.rename(chart / "crds" / path.name)
    if crds_folder:
        (chart / "templates" / "crds.yaml").unlink()
    return chart


def helm_release(helm: str, server: RealApiServer, verb: str, chart: Path | None = None,
                 *values: str) -> subprocess.CompletedProcess[str]:
    """`helm VERB transit-operator [CHART] --set ...` in the namespace docs/gitops.md uses."""
    args = [helm, verb, RELEASE, *([str(chart), "--create-namespace"] if chart else []),
            "--namespace", NAMESPACE, "--kubeconfig", str(server.kubeconfig)]
    if chart is not None:
        args += ["--set", "azure.workloadIdentity.enabled=false", *(f"--set={value}" for value in values)]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)


def succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args[1:3])}: {result.stderr}"


def crd(cluster: KubeClient, name: str) -> dict[str, Any]:
    found = cluster.get(CRD_API, "CustomResourceDefinition", name)
    assert found is not None, f"CRD {name} is not on the API server"
    return found


def columns(cluster: KubeClient, name: str) -> list[str]:
    return [column["name"] for column in crd(cluster, name)["spec"]["versions"][0]["additionalPrinterColumns"]]


def example_cpl() -> dict[str, Any]:
    """The first example ConfluentPrivateLink, with the next version's field set."""
    doc = next(d for d in load_documents(example_files()) if d["kind"] == "ConfluentPrivateLink")
    return {**doc, "spec": {**doc["spec"], NEW_FIELD: "set"}}


def create_strictly(cluster: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """Create as `kubectl create --validate=strict` does: an unknown field is refused, not dropped."""
    path = cluster.path(obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"])
    created: dict[str, Any] = cluster.request("POST", path, obj, query={"fieldValidation": "Strict"})
    return created


def operator_crds(cluster: KubeClient) -> list[str]:
    return sorted(name for name in (o["metadata"]["name"] for o in cluster.list_objects(
        CRD_API, "CustomResourceDefinition")) if name in CRDS)


def test_helm_upgrade_changes_the_crds_and_uninstall_keeps_them_and_the_resources(
        fresh_real_kube_server: RealApiServer, helm: str, tmp_path: Path) -> None:
    server, cluster = fresh_real_kube_server, fresh_real_kube_server.client()
    succeeded(helm_release(helm, server, "install", CHART))
    for name in CRDS:
        assert NEW_COLUMN not in columns(cluster, name)
        assert crd(cluster, name)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    resource = example_cpl()
    cluster.ensure_namespace(resource["metadata"]["namespace"])
    with pytest.raises(ApiError, match=f'unknown field "spec.{NEW_FIELD}"'):
        create_strictly(cluster, resource)

    succeeded(helm_release(helm, server, "upgrade", chart_version(tmp_path, NEXT_VERSION, new_field=True)))
    for name in CRDS:
        assert NEW_COLUMN in columns(cluster, name), f"helm upgrade left {name} as it was"
    created = create_strictly(cluster, resource)
    assert created["spec"][NEW_FIELD] == "set", "the API server pruned the field the upgraded CRD declares"

    succeeded(helm_release(helm, server, "uninstall"))
    for name in CRDS:
        assert NEW_COLUMN in columns(cluster, name), f"helm uninstall deleted {name} (crds.keep is on)"
    meta = resource["metadata"]
    kept = cluster.get(resource["apiVersion"], resource["kind"], meta["name"], meta["namespace"])
    assert kept is not None and kept["metadata"]["uid"] == created["metadata"]["uid"]
    cluster.close()


def test_crds_disabled_installs_none_and_without_keep_uninstall_deletes_them(
        fresh_real_kube_server: RealApiServer, helm: str) -> None:
    server, cluster = fresh_real_kube_server, fresh_real_kube_server.client()
    succeeded(helm_release(helm, server, "install", CHART, "crds.enabled=false"))
    assert operator_crds(cluster) == []
    peering_crds = {o["metadata"]["name"] for o in cluster.list_objects(CRD_API, "CustomResourceDefinition")}
    assert {"kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"} <= peering_crds, "crds/ still installs kopf's"

    succeeded(helm_release(helm, server, "upgrade", CHART, "crds.enabled=true", "crds.keep=false"))
    assert operator_crds(cluster) == CRDS
    # Without crds.keep, uninstalling deletes the CRDs: what the keep test above guards against.
    succeeded(helm_release(helm, server, "uninstall"))
    deadline = time.monotonic() + 30
    while (left := operator_crds(cluster)) and time.monotonic() < deadline:
        time.sleep(0.2)  # a CRD is gone once the API server's finalizer removed its objects
    assert left == []
    cluster.close()


def adoption_commands() -> str:
    """The shell block docs/gitops.md gives for upgrading from chart 0.1.0."""
    text = (REPO / "docs" / "gitops.md").read_text()
    section = text[text.index(f"**Upgrading from chart {OLD_LAYOUT_VERSION}**"):]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/gitops.md: no sh block after 'Upgrading from chart 0.1.0'"
    return match.group(1)


def test_a_release_with_crds_in_the_crds_folder_upgrades_after_the_documented_adoption(
        fresh_real_kube_server: RealApiServer, helm: str, tmp_path: Path) -> None:
    server, cluster = fresh_real_kube_server, fresh_real_kube_server.client()
    succeeded(helm_release(helm, server, "install", chart_version(tmp_path, OLD_LAYOUT_VERSION, crds_folder=True)))
    assert operator_crds(cluster) == CRDS

    refused = helm_release(helm, server, "upgrade", CHART)
    assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr, (
        f"Helm took over CRDs it did not create, so the documented adoption would be unnecessary: {refused.stderr}")

    kubectl = REPO / ".tools" / "bin" / "kubectl"
    path = f"{kubectl.parent}{os.pathsep}{os.environ['PATH']}"
    adopted = subprocess.run(["bash", "-euo", "pipefail", "-c", adoption_commands()], capture_output=True, text=True,
                             timeout=120, check=False,
                             env={**os.environ, "PATH": path, "KUBECONFIG": str(server.kubeconfig)})
    assert adopted.returncode == 0, adopted.stderr
    succeeded(helm_release(helm, server, "upgrade", chart_version(tmp_path, NEXT_VERSION, new_field=True)))
    for name in CRDS:
        assert NEW_COLUMN in columns(cluster, name)
        assert crd(cluster, name)["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    cluster.close()

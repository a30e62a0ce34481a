"""examples/gitops: the Argo CD Application and the Flux objects point at this chart, their values pass its
schema, and their health checks cover both kinds at the served API version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .conftest import REPO, Rendered

GITOPS = REPO / "examples" / "gitops"
FLUX = GITOPS / "flux"
KINDS = {"ConfluentPrivateLink", "ServerlessTransit"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def served_api_versions() -> dict[str, str]:
    """kind -> group/version of the storage version, from the generated CRDs."""
    result = {}
    for crd_file in (REPO / "crds").glob("*.yaml"):
        crd = yaml.safe_load(crd_file.read_text())
        (storage,) = [v for v in crd["spec"]["versions"] if v["storage"]]
        result[crd["spec"]["names"]["kind"]] = f"{crd['spec']['group']}/{storage['name']}"
    return result


def test_argocd_application_installs_this_chart_with_values_the_schema_accepts(
    render: Callable[..., Rendered],
) -> None:
    operator_app = next(
        d
        for d in documents(GITOPS / "argocd-application.yaml")
        if d["metadata"]["name"] == "transit-operator"
    )
    source = operator_app["spec"]["source"]
    assert (REPO / source["path"] / "Chart.yaml").is_file()
    assert source["helm"]["skipCrds"] is False
    render(source["helm"]["valuesObject"])
    assert "ServerSideApply=true" in operator_app["spec"]["syncPolicy"]["syncOptions"]
    ignored = {(d["group"], d["kind"]) for d in operator_app["spec"]["ignoreDifferences"]}
    assert ignored == {("kopf.dev", "ClusterKopfPeering"), ("kopf.dev", "KopfPeering")}


def test_argocd_applications_install_the_operator_before_the_crs() -> None:
    waves = {
        d["metadata"]["name"]: int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for d in documents(GITOPS / "argocd-application.yaml")
    }
    assert waves["transit-operator"] < waves["transit-connectivity"]


def test_flux_helm_release_installs_this_chart_and_applies_crds_on_upgrade(
    render: Callable[..., Rendered],
) -> None:
    (release,) = [d for d in documents(FLUX / "helmrelease.yaml") if d["kind"] == "HelmRelease"]
    (repository,) = documents(FLUX / "source.yaml")
    chart = release["spec"]["chart"]["spec"]
    assert (REPO / chart["chart"] / "Chart.yaml").is_file()
    assert (chart["sourceRef"]["kind"], chart["sourceRef"]["name"]) == (
        repository["kind"],
        repository["metadata"]["name"],
    )
    assert release["spec"]["install"]["crds"] == release["spec"]["upgrade"]["crds"] == "CreateReplace"
    render(release["spec"]["values"])


def test_flux_kustomization_health_checks_cover_both_kinds_at_the_served_version() -> None:
    api_versions = served_api_versions()
    kustomizations = {d["metadata"]["name"]: d for d in documents(FLUX / "kustomizations.yaml")}
    connectivity = kustomizations["transit-connectivity"]["spec"]
    assert connectivity["dependsOn"] == [{"name": "transit-operator"}]
    checks = {c["kind"]: c["apiVersion"] for c in connectivity["healthChecks"]}
    assert checks == {kind: api_versions[kind] for kind in KINDS}
    expressions = {e["kind"]: e for e in connectivity["healthCheckExprs"]}
    assert set(expressions) == KINDS
    for kind, expression in expressions.items():
        assert expression["apiVersion"] == api_versions[kind]
        assert "'Ready'" in expression["current"] and "'Stalled'" in expression["failed"]
        assert "observedGeneration" in expression["inProgress"]
    operator_checks = kustomizations["transit-operator"]["spec"]["healthChecks"]
    assert [c["kind"] for c in operator_checks] == ["HelmRelease"]


def test_flux_example_has_no_file_kustomize_would_mistake_for_its_config() -> None:
    assert not (FLUX / "kustomization.yaml").exists()

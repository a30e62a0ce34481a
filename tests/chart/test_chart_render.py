"""`helm lint` and `helm template` of charts/transit-operator: manifests are valid Kubernetes objects, the pod
is hardened, and values turn into the right operator flags and objects."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest

from transit_operator.runtime.options import add_run_arguments

from .conftest import CHART, NAMESPACE, RELEASE, Rendered, run_helm

NON_DEFAULT: dict[str, Any] = {
    "watch": {"namespaces": ["team-a", "team-b"]},
    "logging": {"format": "text", "level": "debug"},
    "maxWorkers": 3,
    "healthPort": 8181,
    "metrics": {"port": 9191, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "peering": {"enabled": True, "name": "transit-blue"},
    "azure": {
        "armEndpoint": "https://management.usgovcloudapi.net",
        "workloadIdentity": {
            "clientId": "11111111-2222-3333-4444-555555555555",
            "tenantId": "66666666-7777-8888-9999-000000000000",
        },
    },
    "caBundle": {"configMap": "corp-ca", "key": "bundle.pem"},
    "image": {
        "repository": "registry.example.com/transit-operator",
        "tag": "1.2.3",
        "digest": "sha256:" + "a" * 64,
    },
    "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
    "extraArgs": ["--databricks-host=https://accounts.azuredatabricks.net"],
    "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
    "podLabels": {"team": "platform"},
    "priorityClassName": "system-cluster-critical",
}
# Kinds kubernetes-validate has no schema for: custom resources (validated by their CRDs in a cluster).
CUSTOM_KINDS = {"ServiceMonitor", "ClusterKopfPeering", "KopfPeering"}
# Oldest Kubernetes the chart claims (Chart.yaml kubeVersion) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.27.0", kubernetes_validate.latest_version()]


def parse_operator_args(container: dict[str, Any]) -> argparse.Namespace:
    """Parse the container args with the operator's own `run` parser: a flag it lacks fails here."""
    parser = argparse.ArgumentParser(prog="transit-operator run", exit_on_error=False)
    add_run_arguments(parser)
    return parser.parse_args(container["args"])


def test_helm_lint_strict_passes_with_default_and_non_default_values(helm: str, tmp_path) -> None:
    for values in ({}, NON_DEFAULT):
        result = run_helm(
            helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, values=values, tmp_dir=tmp_path
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="defaults"),
        pytest.param(NON_DEFAULT, id="non-default"),
        pytest.param(
            {
                "peering": {"enabled": False, "name": "x"},
                "metrics": {"enabled": False},
                "rbac": {"secretNamespaces": ["a"]},
                "replicaCount": 0,
            },
            id="no-peering-no-metrics",
        ),
    ],
)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate_against_kubernetes_schemas(
    render: Callable[..., Rendered], values: dict[str, Any], version: str
) -> None:
    rendered = render(values, include_crds=True)
    checked = set()
    for document in rendered.documents:
        if document["kind"] in CUSTOM_KINDS:
            continue  # no published schema: these are custom resources
        kubernetes_validate.validate(document, version, strict=True)
        checked.add(document["kind"])
    assert {"Deployment", "ServiceAccount", "ClusterRole", "CustomResourceDefinition"} <= checked


@pytest.mark.parametrize(
    "values", [pytest.param({}, id="defaults"), pytest.param(NON_DEFAULT, id="non-default")]
)
def test_pod_runs_as_non_root_with_read_only_root_filesystem_and_no_capabilities(
    render: Callable[..., Rendered], values: dict[str, Any]
) -> None:
    rendered = render(values)
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    container = rendered.container
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"].get("runAsUser", 65532) != 0
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_default_pod_runs_as_the_image_user(render: Callable[..., Rendered]) -> None:
    pod_security = render().one("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert (pod_security["runAsUser"], pod_security["runAsGroup"]) == (65532, 65532)


def test_probes_hit_the_health_endpoint_on_the_health_port(render: Callable[..., Rendered]) -> None:
    container = render({"healthPort": 8181}).container
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == 8181
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    assert parse_operator_args(container).health_port == 8181


def test_default_flags_watch_all_namespaces_with_json_logs_peering_and_metrics(
    render: Callable[..., Rendered],
) -> None:
    args = parse_operator_args(render().container)
    assert args.all_namespaces is True and args.namespace is None
    assert (args.log_format, args.log_level) == ("json", "info")
    assert (args.health_port, args.metrics_port, args.max_workers) == (8080, 9090, 8)
    assert (args.peering, args.no_peering) == ("transit-operator", False)
    assert args.arm_endpoint is None and args.ca_bundle is None


def test_non_default_values_become_the_matching_operator_flags(render: Callable[..., Rendered]) -> None:
    rendered = render(NON_DEFAULT)
    args = parse_operator_args(rendered.container)
    assert args.namespace == ["team-a", "team-b"] and args.all_namespaces is False
    assert (args.log_format, args.log_level, args.max_workers) == ("text", "debug", 3)
    assert (args.metrics_port, args.peering) == (9191, "transit-blue")
    assert args.arm_endpoint == "https://management.usgovcloudapi.net"
    assert args.ca_bundle == "/etc/transit-operator/ca/bundle.pem"
    assert args.databricks_host == "https://accounts.azuredatabricks.net"
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert {"name": "ca-bundle", "configMap": {"name": "corp-ca"}} in pod["volumes"]
    assert rendered.container["image"] == "registry.example.com/transit-operator:1.2.3@sha256:" + "a" * 64
    assert {"name": "HTTPS_PROXY", "value": "http://proxy:3128"} in rendered.container["env"]
    assert "runAsUser" not in pod["securityContext"]


def test_default_image_is_the_chart_app_version(render: Callable[..., Rendered]) -> None:
    assert render().container["image"] == "ghcr.io/transit-operator/transit-operator:0.1.0"


def test_pod_id_env_names_the_pod_for_kopf_peering(render: Callable[..., Rendered]) -> None:
    env = {e["name"]: e for e in render().container["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_workload_identity_labels_the_pod_and_annotates_the_service_account(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(NON_DEFAULT)
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    annotations = rendered.one("ServiceAccount")["metadata"]["annotations"]
    assert annotations == {
        "azure.workload.identity/client-id": "11111111-2222-3333-4444-555555555555",
        "azure.workload.identity/tenant-id": "66666666-7777-8888-9999-000000000000",
    }
    assert (
        rendered.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == rendered.one("ServiceAccount")["metadata"]["name"]
    )


def test_workload_identity_disabled_leaves_pod_and_service_account_unmarked(
    render: Callable[..., Rendered],
) -> None:
    rendered = render(
        {
            "azure": {
                "workloadIdentity": {"enabled": False, "clientId": "11111111-2222-3333-4444-555555555555"}
            }
        }
    )
    assert (
        "azure.workload.identity/use"
        not in rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    )
    assert "annotations" not in rendered.one("ServiceAccount")["metadata"]


@pytest.mark.parametrize(
    ("values", "strategy"),
    [
        pytest.param({}, "RollingUpdate", id="peering-rolls-with-surge"),
        pytest.param({"peering": {"enabled": False, "name": "x"}}, "Recreate", id="no-peering-recreates"),
    ],
)
def test_rollout_strategy_never_lets_two_unpeered_pods_act(
    render: Callable[..., Rendered], values: dict[str, Any], strategy: str
) -> None:
    deployment = render(values).one("Deployment")
    assert deployment["spec"]["strategy"]["type"] == strategy


@pytest.mark.parametrize(
    ("values", "kind", "namespaces"),
    [
        pytest.param({}, "ClusterKopfPeering", [None], id="all-namespaces-cluster-peering"),
        pytest.param(
            {"watch": {"namespaces": ["a", "b"]}}, "KopfPeering", ["a", "b"], id="namespaced-peering"
        ),
    ],
)
def test_chart_creates_the_peering_objects_kopf_only_patches(
    render: Callable[..., Rendered], values: dict[str, Any], kind: str, namespaces: list[str | None]
) -> None:
    rendered = render(values)
    peerings = rendered.of_kind(kind)
    assert [p["metadata"].get("namespace") for p in peerings] == namespaces
    assert {p["metadata"]["name"] for p in peerings} == {"transit-operator"}
    assert not rendered.of_kind("KopfPeering" if kind == "ClusterKopfPeering" else "ClusterKopfPeering")


def test_no_peering_objects_without_peering(render: Callable[..., Rendered]) -> None:
    rendered = render({"peering": {"enabled": False, "name": "x"}})
    assert not rendered.of_kind("ClusterKopfPeering") and not rendered.of_kind("KopfPeering")
    assert parse_operator_args(rendered.container).no_peering is True


def test_metrics_service_selects_the_pod_and_targets_the_metrics_port(
    render: Callable[..., Rendered],
) -> None:
    rendered = render()
    service = rendered.one("Service")
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert not rendered.of_kind("ServiceMonitor")


def test_service_monitor_scrapes_metrics_when_enabled(render: Callable[..., Rendered]) -> None:
    rendered = render(NON_DEFAULT)
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= rendered.one("Service")["metadata"]["labels"].items()
    )


def test_metrics_disabled_removes_port_service_and_sets_port_zero(render: Callable[..., Rendered]) -> None:
    rendered = render({"metrics": {"enabled": False}})
    assert not rendered.of_kind("Service")
    assert [p["name"] for p in rendered.container["ports"]] == ["health"]
    assert parse_operator_args(rendered.container).metrics_port == 0


def test_pod_disruption_budget_selects_the_pod_and_allows_a_drain(render: Callable[..., Rendered]) -> None:
    rendered = render()
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"]
        == rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    )
    assert not render({"podDisruptionBudget": {"enabled": False}}).of_kind("PodDisruptionBudget")


def test_objects_go_to_the_release_namespace(render: Callable[..., Rendered]) -> None:
    for document in render().documents:
        if document["kind"] in {"Deployment", "ServiceAccount", "Service", "PodDisruptionBudget"}:
            assert document["metadata"]["namespace"] == NAMESPACE, document["kind"]
            assert document["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def test_notes_say_what_to_do_next(helm: str) -> None:
    result = run_helm(helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{RELEASE}-transit-operator" in notes
    assert f"system:serviceaccount:{NAMESPACE}:{RELEASE}-transit-operator" in notes
    assert "azure.workloadIdentity.clientId is empty" in notes
    assert "docs/gitops.md" in notes

"""The chart installed for real: `helm install` into a real kube-apiserver (an empty cluster of this test's
own; no kubelet, so its pods never run), then `transit-operator run` started locally with the arguments the
chart's Deployment holds and a TokenRequest token for the chart's ServiceAccount — so the examples converge
with exactly the chart's RBAC (sufficient). The API server's audit log gives the calls the operator really
made; the can-i matrix (SubjectAccessReviews, what `kubectl auth can-i` asks) shows the ServiceAccount may do
those calls and nothing else (minimal). For a cluster-wide install and for `watch.namespaces`."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from transit_operator.runtime.sandbox import example_files, load_documents, prepare_customer_side
from transit_sandbox.executor import ConfigExecutor
from transit_sandbox.kube import KubeClient, RealApiServer
from transit_sandbox.operators import OperatorProcess
from transit_sandbox.server import SandboxCloud

from .conftest import CHART
from .test_rbac import GROUP, KINDS, PEERING, Call, operator_calls

pytestmark = [pytest.mark.real_kube, pytest.mark.slow]

RELEASE, NAMESPACE = "transit", "transit-system"
SERVICE_ACCOUNT = f"{RELEASE}-transit-operator"
USER = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
API_VERSION = f"{GROUP}/v1alpha1"
EXAMPLE_NAMESPACES = sorted({doc["metadata"]["namespace"] for doc in load_documents(example_files())})
SCOPES = [pytest.param([], id="cluster-wide"), pytest.param(EXAMPLE_NAMESPACES, id="watch-namespaces")]
# What the can-i matrix asks about: the operator's calls and their near misses.
MATRIX_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
MATRIX_RESOURCES = [
    *((GROUP, kind) for kind in KINDS), *((GROUP, f"{kind}/status") for kind in KINDS),
    ("", "secrets"), ("", "events"), ("events.k8s.io", "events"), ("", "namespaces"), ("", "configmaps"),
    ("", "pods"), ("", "serviceaccounts"), ("apiextensions.k8s.io", "customresourcedefinitions"),
    ("kopf.dev", "kopfpeerings"), ("kopf.dev", "clusterkopfpeerings"), ("coordination.k8s.io", "leases"),
    ("apps", "deployments"), ("rbac.authorization.k8s.io", "roles"),
]


@pytest.fixture
def installed(request: pytest.FixtureRequest, fresh_real_kube_server: RealApiServer, helm: str, tmp_path: Path
              ) -> Iterator[tuple[RealApiServer, KubeClient, list[str]]]:
    """The chart installed with `watch.namespaces` = the test's parameter."""
    watched: list[str] = request.param
    server, cluster = fresh_real_kube_server, fresh_real_kube_server.client()
    for namespace in EXAMPLE_NAMESPACES:  # a namespaced install puts its Roles there: they must exist first
        cluster.ensure_namespace(namespace)
    values = {"azure": {"workloadIdentity": {"enabled": False}}, "watch": {"namespaces": watched}}
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    installed = subprocess.run([helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
                                "--kubeconfig", str(server.kubeconfig), "-f", str(tmp_path / "values.yaml")],
                               capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stderr
    yield server, cluster, watched
    cluster.close()


def accepted_objects(cluster: KubeClient, watched: list[str]) -> dict[str, list[str]]:
    found = {kind: [o["metadata"]["name"] for o in cluster.list_objects(api, kind, NAMESPACE)]
             for api, kind in (("apps/v1", "Deployment"), ("v1", "ServiceAccount"), ("v1", "Service"),
                               ("policy/v1", "PodDisruptionBudget"))}
    found["CustomResourceDefinition"] = sorted(
        o["metadata"]["name"] for o in cluster.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition"))
    found["peering"] = ([f"{ns}/{o['metadata']['name']}" for ns in watched
                         for o in cluster.list_objects("kopf.dev/v1", "KopfPeering", ns)] if watched else
                        [o["metadata"]["name"] for o in cluster.list_objects("kopf.dev/v1", "ClusterKopfPeering")])
    return found


def operator_args(cluster: KubeClient) -> list[str]:
    """`transit-operator run`'s arguments exactly as the chart's Deployment gives them."""
    deployment = cluster.get("apps/v1", "Deployment", SERVICE_ACCOUNT, NAMESPACE)
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args: list[str] = container["args"]
    return args


def can_i(cluster: KubeClient, verb: str, group: str, resource: str, namespace: str | None,
          name: str | None = None) -> bool:
    """`kubectl auth can-i --as=<the chart's ServiceAccount>`, as the SubjectAccessReview it sends."""
    plural, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": group, "resource": plural, "subresource": subresource,
                  "namespace": namespace or "", "name": name or ""}
    review = cluster.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": USER, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}",
                                          "system:authenticated"], "resourceAttributes": attributes}})
    return bool(review["status"].get("allowed"))


def observed_calls(server: RealApiServer) -> set[Call]:
    """The operator's calls from the audit log, in `Call` terms (names kept only where RBAC can pin them)."""
    calls = set()
    for event in server.audit_events(USER):
        ref = event.get("objectRef") or {}
        if not ref.get("resource"):
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        name = ref.get("name") if ref.get("resource", "").endswith("peerings") and event["verb"] == "patch" else None
        calls.add(Call(event["verb"], ref.get("apiGroup", ""), resource, ref.get("namespace"), name))
    return calls


def expected_calls(watched: list[str]) -> set[Call]:
    """test_rbac's call list for this scope: its sample namespace ("any-team") stands for every namespace
    (None here), its sample object names for any name — except the peering object's, which RBAC pins."""
    return {Call(c.verb, c.group, c.resource, None if c.namespace == "any-team" else c.namespace,
                 c.name if c.resource.endswith("peerings") else None) for c in operator_calls(watched)}


def permits(expected: set[Call], call: Call) -> bool:
    """Whether the call list covers `call`, with RBAC's meaning: no namespace = every namespace (and the
    cluster scope), no name = every name; a question without a name about a name-pinned grant is refused."""
    return any(e.verb == call.verb and e.group == call.group and e.resource == call.resource
               and (e.namespace is None or e.namespace == call.namespace)
               and (e.name is None or e.name == call.name) for e in expected)


@pytest.mark.parametrize("installed", SCOPES, indirect=True)
def test_chart_installs_and_the_operator_converges_with_exactly_its_rbac(
        installed: tuple[RealApiServer, KubeClient, list[str]], kubectl: Any, tmp_path: Path) -> None:
    server, cluster, watched = installed
    accepted = accepted_objects(cluster, watched)
    assert accepted["Deployment"] == [SERVICE_ACCOUNT] and accepted["ServiceAccount"] == [SERVICE_ACCOUNT]
    assert accepted["Service"] and accepted["PodDisruptionBudget"]
    assert {f"{kind}.{GROUP}" for kind in KINDS} <= set(accepted["CustomResourceDefinition"])
    assert accepted["peering"] == ([f"{ns}/{PEERING}" for ns in watched] if watched else [PEERING])

    token = cluster.request_token(NAMESPACE, SERVICE_ACCOUNT)
    kubeconfig = server.write_kubeconfig(tmp_path / "operator.kubeconfig", token=token)
    with SandboxCloud(executor=ConfigExecutor()) as cloud:
        cloud.admin.set_lro_seconds(None, 0.05)
        documents = prepare_customer_side(cloud, cluster, load_documents(example_files()))
        args = [arg for arg in operator_args(cluster) if not arg.startswith(("--health-port", "--metrics-port"))]
        with OperatorProcess([*args, f"--kubeconfig={kubeconfig}", "--log-format=text"], cloud=cloud,
                             log=tmp_path / "operator.log") as operator:
            operator.wait_healthy()
            for doc in documents:
                cluster.apply(doc)
            crs = [doc for doc in documents if doc["kind"] in ("ConfluentPrivateLink", "ServerlessTransit")]
            not_ready = wait_ready(cluster, crs, timeout=120)
            assert not_ready == [], f"{not_ready}\n{operator.log()[-4000:]}"

    denied = [e for e in server.audit_events(USER) if e.get("responseStatus", {}).get("code") == 403]
    assert denied == [], "the chart's RBAC refused a call the operator made"
    observed, expected = observed_calls(server), expected_calls(watched)
    missing = {call for call in observed if not permits(expected, call)}
    assert missing == set(), "calls missing from the operator's call list (tests/chart/test_rbac.py)"
    unused = {(c.verb, c.group, c.resource) for c in expected} - {(c.verb, c.group, c.resource) for c in observed}
    assert unused == set(), "the call list (and so the chart) grants calls the operator never made"

    homes = [*EXAMPLE_NAMESPACES, "default", "kube-system"]
    mismatches = []
    for group, resource in MATRIX_RESOURCES:
        for verb in MATRIX_VERBS:
            for namespace in [None, *homes]:
                for name in ([None, PEERING, "another"] if resource.endswith("peerings") and verb == "patch"
                             else [None]):
                    call = Call(verb, group, resource, namespace, name)
                    if can_i(cluster, verb, group, resource, namespace, name) != permits(expected, call):
                        mismatches.append(call)
    assert mismatches == [], "can-i differs from the operator's call list"
    # kubectl auth can-i itself gives the same answers (a row of the matrix: patch in a watched namespace).
    for group, resource in MATRIX_RESOURCES:
        plural, _, subresource = resource.partition("/")
        asked = kubectl("auth", "can-i", "patch", f"{plural}.{group}" if group else plural, "-n", homes[0],
                        f"--as={USER}", *([f"--subresource={subresource}"] if subresource else []),
                        kubeconfig=server.kubeconfig, check=False)
        assert asked.stdout.strip() == ("yes" if permits(expected, Call("patch", group, resource, homes[0]))
                                        else "no"), (resource, asked.stderr)


def wait_ready(cluster: KubeClient, documents: list[dict[str, Any]], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        for doc in documents:
            obj = cluster.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"])
            conditions = ((obj or {}).get("status") or {}).get("conditions") or []
            if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                pending.append(f"{doc['kind']} {doc['metadata']['namespace']}/{doc['metadata']['name']}: "
                               f"{json.dumps(conditions)}")
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.5)

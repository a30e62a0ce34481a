"""The chart's RBAC grants exactly the Kubernetes API calls the operator makes: every call is allowed, every
rule serves a call, nothing is a wildcard, and namespace scope keeps the grants in the watched namespaces.

Where the calls come from (kopf 1.45; test_chart_install.py checks this list against the calls a real API
server's audit log records while the operator converges on the examples):
- kopf lists/watches each kind (cluster-wide with --all-namespaces, else per namespace) and patches the
  objects (finalizers, progress annotations) and their /status subresource (`_cogs/clients/patching.py`).
- kopf posts core/v1 Events (`_core/engines/posting.py`), the operator's own too (`kopf.event`).
- the reconcilers `get` the Secret a CR names, in the CR's namespace.
- peering: list/watch of ClusterKopfPeering (all namespaces) or KopfPeering (per namespace), and a status
  patch of the object named by --peering (`_core/engines/peering.py`).
- the resource observer lists/watches CustomResourceDefinitions; the namespace observer lists/watches
  Namespaces unless the operator is cluster-wide (`_core/reactor/observation.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import NAMESPACE, RELEASE, Rendered

CLUSTER = None  # a request that is not in one namespace: cluster-scoped objects or a list across namespaces
GROUP = "transit.privatelink.io"
KINDS = ("confluentprivatelinks", "serverlesstransits")
PEERING = "transit-operator"


@dataclass(frozen=True)
class Call:
    verb: str
    group: str
    resource: str
    namespace: str | None = CLUSTER
    name: str | None = None


def operator_calls(
    watched: list[str], *, peering: bool = True, secret_namespaces: list[str] | None = None
) -> list[Call]:
    """The API calls the operator makes when watching `watched` namespaces ([] = all namespaces)."""
    calls = [
        Call("list", "apiextensions.k8s.io", "customresourcedefinitions"),
        Call("watch", "apiextensions.k8s.io", "customresourcedefinitions"),
    ]
    # Where CRs live: any namespace in all-namespaces mode (a sample one stands for all).
    homes = watched or ["any-team"]
    for kind in KINDS:
        for verb in ("list", "watch"):
            if watched:
                calls += [Call(verb, GROUP, kind, ns) for ns in watched]
            else:
                calls.append(Call(verb, GROUP, kind, CLUSTER))
        calls += [Call("patch", GROUP, kind, ns, "obj") for ns in homes]
        calls += [Call("patch", GROUP, f"{kind}/status", ns, "obj") for ns in homes]
    calls += [Call("create", "", "events", ns) for ns in homes]
    calls += [Call("get", "", "secrets", ns, "databricks-credentials") for ns in (secret_namespaces or homes)]
    if watched:
        calls += [Call("list", "", "namespaces"), Call("watch", "", "namespaces")]
    if peering and watched:
        for ns in watched:
            calls += [
                Call("list", "kopf.dev", "kopfpeerings", ns),
                Call("watch", "kopf.dev", "kopfpeerings", ns),
                Call("patch", "kopf.dev", "kopfpeerings", ns, PEERING),
            ]
    elif peering:
        calls += [
            Call("list", "kopf.dev", "clusterkopfpeerings"),
            Call("watch", "kopf.dev", "clusterkopfpeerings"),
            Call("patch", "kopf.dev", "clusterkopfpeerings", CLUSTER, PEERING),
        ]
    return calls


@dataclass(frozen=True)
class Grant:
    rule: dict[str, Any]
    namespace: str | None  # None: from a ClusterRole bound cluster-wide


def grants(rendered: Rendered) -> list[Grant]:
    """Rules that reach the chart's ServiceAccount, with the namespace a RoleBinding limits them to."""
    service_account = {
        "kind": "ServiceAccount",
        "name": f"{RELEASE}-transit-operator",
        "namespace": NAMESPACE,
    }
    cluster_roles = {r["metadata"]["name"]: r for r in rendered.of_kind("ClusterRole")}
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in rendered.of_kind("Role")}
    result = []
    for binding in rendered.of_kind("ClusterRoleBinding"):
        assert binding["subjects"] == [service_account]
        assert binding["roleRef"]["kind"] == "ClusterRole"
        result += [Grant(rule, None) for rule in cluster_roles[binding["roleRef"]["name"]]["rules"]]
    for binding in rendered.of_kind("RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        assert binding["subjects"] == [service_account]
        assert binding["roleRef"]["kind"] == "Role"
        result += [Grant(rule, namespace) for rule in roles[namespace, binding["roleRef"]["name"]]["rules"]]
    return result


def allows(grant: Grant, call: Call) -> bool:
    rule = grant.rule
    if grant.namespace is not None and grant.namespace != call.namespace:
        return False
    if rule.get("resourceNames") and call.name not in rule["resourceNames"]:
        return False
    return (
        call.group in rule["apiGroups"] and call.resource in rule["resources"] and call.verb in rule["verbs"]
    )


def allowed(rendered: Rendered, call: Call) -> bool:
    return any(allows(grant, call) for grant in grants(rendered))


def rule_triples(rendered: Rendered) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for grant in grants(rendered)
        for group in grant.rule["apiGroups"]
        for resource in grant.rule["resources"]
        for verb in grant.rule["verbs"]
    }


def call_triples(calls: Iterable[Call]) -> set[tuple[str, str, str]]:
    return {(c.group, c.resource, c.verb) for c in calls}


SCENARIOS = [
    pytest.param({}, operator_calls([]), id="all-namespaces"),
    pytest.param(
        {"watch": {"namespaces": ["team-a", "team-b"]}},
        operator_calls(["team-a", "team-b"]),
        id="watched-namespaces",
    ),
    pytest.param(
        {"rbac": {"secretNamespaces": ["vault"]}},
        operator_calls([], secret_namespaces=["vault"]),
        id="all-namespaces-secrets-in-one",
    ),
    pytest.param(
        {"peering": {"enabled": False, "name": "x"}}, operator_calls([], peering=False), id="no-peering"
    ),
    pytest.param(
        {"watch": {"namespaces": ["team-a"]}, "peering": {"enabled": False, "name": "x"}},
        operator_calls(["team-a"], peering=False),
        id="watched-namespace-no-peering",
    ),
]


@pytest.mark.parametrize(("values", "calls"), SCENARIOS)
def test_every_call_the_operator_makes_is_allowed(
    render: Callable[..., Rendered], values: dict[str, Any], calls: list[Call]
) -> None:
    rendered = render(values)
    denied = [call for call in calls if not allowed(rendered, call)]
    assert not denied


@pytest.mark.parametrize(("values", "calls"), SCENARIOS)
def test_every_rule_serves_a_call_the_operator_makes(
    render: Callable[..., Rendered], values: dict[str, Any], calls: list[Call]
) -> None:
    assert rule_triples(render(values)) == call_triples(calls)


@pytest.mark.parametrize(("values", "calls"), SCENARIOS)
def test_rbac_has_no_wildcards_or_non_resource_urls(
    render: Callable[..., Rendered], values: dict[str, Any], calls: list[Call]
) -> None:
    for grant in grants(render(values)):
        assert "nonResourceURLs" not in grant.rule
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in item for item in grant.rule.get(key, [])), grant.rule


@pytest.mark.parametrize(
    ("values", "call"),
    [
        pytest.param({}, Call("list", "", "secrets", "any-team"), id="no-secret-listing"),
        pytest.param({}, Call("watch", "", "secrets", CLUSTER), id="no-secret-watching"),
        pytest.param(
            {}, Call("delete", GROUP, "confluentprivatelinks", "any-team", "obj"), id="no-cr-delete"
        ),
        pytest.param(
            {}, Call("update", GROUP, "serverlesstransits/status", "any-team", "obj"), id="no-status-put"
        ),
        pytest.param(
            {},
            Call("patch", "kopf.dev", "clusterkopfpeerings", CLUSTER, "other-operator"),
            id="no-patching-another-operators-peering",
        ),
        pytest.param({}, Call("list", "", "namespaces"), id="cluster-wide-needs-no-namespace-list"),
        pytest.param({}, Call("get", "", "configmaps", "any-team", "x"), id="no-configmaps"),
        pytest.param(
            {"rbac": {"secretNamespaces": ["vault"]}},
            Call("get", "", "secrets", "kube-system", "x"),
            id="secrets-only-in-listed-namespaces",
        ),
        pytest.param(
            {"watch": {"namespaces": ["team-a"]}},
            Call("get", "", "secrets", "kube-system", "x"),
            id="scoped-no-secrets-outside-watched-namespaces",
        ),
        pytest.param(
            {"watch": {"namespaces": ["team-a"]}},
            Call("list", GROUP, "confluentprivatelinks", CLUSTER),
            id="scoped-no-cluster-wide-cr-list",
        ),
        pytest.param(
            {"watch": {"namespaces": ["team-a"]}},
            Call("patch", GROUP, "serverlesstransits", "team-b", "o"),
            id="scoped-no-cr-patch-outside-watched-namespaces",
        ),
        pytest.param(
            {"watch": {"namespaces": ["team-a"]}},
            Call("create", "", "events", "team-b"),
            id="scoped-no-events-outside-watched-namespaces",
        ),
        pytest.param(
            {"watch": {"namespaces": ["team-a"]}},
            Call("list", "kopf.dev", "clusterkopfpeerings"),
            id="scoped-uses-namespaced-peering",
        ),
        pytest.param(
            {"rbac": {"create": False}},
            Call("list", "apiextensions.k8s.io", "customresourcedefinitions"),
            id="rbac-create-false-renders-none",
        ),
    ],
)
def test_calls_the_operator_does_not_make_are_denied(
    render: Callable[..., Rendered], values: dict[str, Any], call: Call
) -> None:
    assert not allowed(render(values), call)

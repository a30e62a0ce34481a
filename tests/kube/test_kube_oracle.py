"""The real kube-apiserver is the oracle: the same requests go to it and to the embedded emulator, and the
answers must be equal once what legitimately differs (uids, timestamps, resourceVersions, ages) is masked.
Each case below was once a difference, fixed in the emulator."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from transit_sandbox.kube import ApiError, KubeClient, KubeEmulator, RealApiServer

pytestmark = pytest.mark.real_kube

_MASKS = [
    (re.compile(r'creationTimestamp: "[^"]+"'), 'creationTimestamp: "T"'),
    (re.compile(r"uid: [0-9a-f-]{36}"), "uid: U"),
    (re.compile(r'resourceVersion: "\d+"'), 'resourceVersion: "R"'),
    (re.compile(r"(?m)(?<=\s)\d+s(?=\s|$)"), "AGE"),  # ages in tables (0s, 1s) as the clocks tick apart
]


def masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture
def servers(real_kube_server: RealApiServer) -> Iterator[dict[str, Any]]:
    """Both servers, each with the same namespace holding the same objects."""
    namespace = f"oracle-{secrets.token_hex(3)}"
    with KubeEmulator() as emulator:
        made: dict[str, Any] = {}
        for name, server in (("real", real_kube_server), ("embedded", emulator)):
            cluster = server.client()
            cluster.ensure_namespace(namespace)
            cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": namespace},
                            "data": {"x": "y"}, "binaryData": {"z": "AA=="}})
            cluster.create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": namespace},
                            "reason": "Tested", "message": "hello ", "type": "Normal",
                            "involvedObject": {"kind": "ConfigMap", "name": "cm", "namespace": namespace,
                                               "apiVersion": "v1"}})
            made[name] = {"server": server, "cluster": cluster}
        made["namespace"] = namespace
        yield made


def both(servers: dict[str, Any], run: Callable[[dict[str, Any]], Any]) -> tuple[Any, Any]:
    return run(servers["real"]), run(servers["embedded"])


@pytest.mark.parametrize("args", [
    pytest.param(["create", "secret", "generic", "s1", "--from-literal=a=b"], id="create-secret-protobuf"),
    pytest.param(["get", "events"], id="events-table"),
    pytest.param(["get", "events", "-o", "wide"], id="events-table-wide"),
    pytest.param(["get", "configmaps"], id="configmaps-table"),
    pytest.param(["get", "namespace", "{namespace}"], id="namespace-table"),
    pytest.param(["get", "event", "e1", "-o", "yaml"], id="event-defaults"),
    pytest.param(["get", "secret", "missing"], id="not-found"),
])
def test_kubectl_prints_the_same_from_both_servers(servers: dict[str, Any], kubectl: Any,
                                                   args: list[str]) -> None:
    namespace = servers["namespace"]
    args = [arg.format(namespace=namespace) for arg in args]

    def run(side: dict[str, Any]) -> tuple[int, str, str]:
        if args[:2] != ["create", "secret"]:
            kubectl("-n", namespace, "create", "secret", "generic", "s1", "--from-literal=a=b",
                    kubeconfig=side["server"].kubeconfig, check=False)
        result = kubectl("-n", namespace, *args, kubeconfig=side["server"].kubeconfig, check=False)
        return result.returncode, masked(result.stdout), result.stderr

    real, embedded = both(servers, run)
    assert embedded == real


def test_secret_created_by_kubectl_reads_back_the_same(servers: dict[str, Any], kubectl: Any) -> None:
    namespace = servers["namespace"]

    def run(side: dict[str, Any]) -> tuple[str, str]:
        config = side["server"].kubeconfig
        kubectl("-n", namespace, "create", "secret", "generic", "s1", "--from-literal=a=b", kubeconfig=config)
        return (masked(kubectl("-n", namespace, "get", "secret", "s1", "-o", "yaml", kubeconfig=config).stdout),
                kubectl("-n", namespace, "get", "secrets", kubeconfig=config).stdout.split("\n")[0])

    real, embedded = both(servers, run)
    assert embedded == real
    assert "type: Opaque" in real[0]


def error(cluster: KubeClient, call: Callable[[KubeClient], Any]) -> tuple[int, str, str, dict[str, Any]]:
    with pytest.raises(ApiError) as raised:
        call(cluster)
    return raised.value.code, raised.value.reason, raised.value.message, raised.value.details


@pytest.mark.parametrize("call", [
    pytest.param(lambda c, ns: c.request("GET", f"/api/v1/namespaces/{ns}/secrets/nope"), id="404-core"),
    pytest.param(lambda c, ns: c.request("GET", "/apis/nogroup.example.io/v1/things"), id="404-unknown-group"),
    pytest.param(lambda c, ns: c.create({"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": "Bad_Name", "namespace": ns}}), id="422-name"),
    pytest.param(lambda c, ns: c.create({"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": "bad.label"}}), id="422-namespace-name"),
    pytest.param(lambda c, ns: c.create({"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "cm", "namespace": ns}}), id="409-exists"),
    pytest.param(lambda c, ns: c.create({"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": "x", "namespace": f"{ns}-missing"}}),
                 id="404-namespace"),
])
def test_errors_are_the_same_from_both_servers(servers: dict[str, Any], call: Any) -> None:
    namespace = servers["namespace"]
    real, embedded = both(servers, lambda side: error(side["cluster"], lambda c: call(c, namespace)))
    assert embedded == real

"""The emulated API server refuses what the real one refuses before storing anything: a request body over
3 MiB (413 with a Status), a YAML body whose aliases explode, and ObjectMeta that apimachinery's
ValidateObjectMeta refuses (labels, annotations, finalizers, namespace). Run on both servers: the real
kube-apiserver is the oracle."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest

from transit_sandbox.kube import KubeClient, KubeServer
from transit_sandbox.limits import MAX_REQUEST_BYTES


@dataclass
class Kube:
    """One API server, its admin client and this test's namespace."""

    server: KubeServer
    cluster: KubeClient
    namespace: str


@pytest.fixture
def kube(kube_server: KubeServer, cluster: KubeClient, kube_namespace: str) -> Kube:
    return Kube(kube_server, cluster, kube_namespace)


def post(kube: Kube, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    """A raw POST with the admin's token (bodies the client library would not send as they are)."""
    configuration = kube.cluster.api.configuration
    token = configuration.get_api_key_with_prefix("BearerToken") or configuration.get_api_key_with_prefix(
        "authorization") or ""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert) if kube.server.url.startswith(
        "https") else None
    request = urllib.request.Request(kube.server.url + path.replace("/default/", f"/{kube.namespace}/"), data=body,
                                     method="POST", headers={"Content-Type": content_type, "Authorization": token})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def config_map(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}, "data": {"a": "b"}}


def names(kube: Kube) -> set[str]:
    return {o["metadata"]["name"] for o in kube.cluster.list_objects("v1", "ConfigMap", kube.namespace)}


def test_a_body_over_three_mebibytes_is_413_with_a_status_and_nothing_is_stored(kube: Kube) -> None:
    body = config_map("huge")
    body["data"] = {"blob": "x" * (MAX_REQUEST_BYTES + 10)}
    status, answer = post(kube, "/api/v1/namespaces/default/configmaps", json.dumps(body).encode())
    assert status == 413
    assert answer["kind"] == "Status" and answer["reason"] == "RequestEntityTooLarge"
    assert answer["message"] == f"Request entity too large: limit is {MAX_REQUEST_BYTES}"
    assert "huge" not in names(kube)


def test_a_yaml_alias_bomb_is_refused_quickly(kube: Kube) -> None:
    lines = ['apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx0: &a0 ["l","l","l","l","l","l","l","l","l"]']
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    status, answer = post(kube, "/api/v1/namespaces/default/configmaps", "\n".join(lines).encode(),
                          content_type="application/yaml")
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert ("the object provided is unrecognized (must be of type ConfigMap): yaml: document contains excessive "
            "aliasing") in answer["message"]
    assert "bomb" not in names(kube)


def test_json_nested_beyond_the_recursion_limit_is_a_bad_request(kube: Kube) -> None:
    status, answer = post(kube, "/api/v1/namespaces/default/configmaps", b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and answer["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        pytest.param({"labels": {"bad key!": "v"}}, "metadata.labels", id="label-key"),
        pytest.param({"labels": {"app": "x" * 64}}, "metadata.labels", id="label-value-too-long"),
        pytest.param({"labels": {"app": "-starts-with-dash"}}, "metadata.labels", id="label-value-chars"),
        pytest.param({"labels": {"a/b/c": "v"}}, "metadata.labels", id="label-key-two-slashes"),
        pytest.param({"annotations": {"UPPER_ok/but space": "v"}}, "metadata.annotations", id="annotation-key"),
        pytest.param({"annotations": {"big": "x" * (256 * 1024)}}, "metadata.annotations",
                     id="annotations-over-256KiB"),
        pytest.param({"finalizers": ["not a name"]}, "metadata.finalizers[0]", id="finalizer"),
        pytest.param({"generateName": "Bad_"}, "metadata.generateName", id="generate-name"),
    ],
)
def test_object_meta_is_validated_like_apimachinery(kube: Kube, metadata: dict[str, Any], field: str) -> None:
    name = f"meta-{abs(hash(json.dumps(metadata))) % 10**8}"
    status, answer = post(kube, "/api/v1/namespaces/default/configmaps", json.dumps(config_map(name, **metadata)).encode())
    assert status == 422 and answer["reason"] == "Invalid"
    assert field in [cause["field"] for cause in answer["details"]["causes"]]
    assert name not in names(kube)


def test_valid_metadata_is_stored(kube: Kube) -> None:
    metadata = {"labels": {"app.kubernetes.io/name": "transit", "empty": ""},
                "annotations": {"Example.COM/Key": "any value at all\nwith lines"},
                "finalizers": ["transit.privatelink.io/finalizer"]}
    status, _ = post(kube, "/api/v1/namespaces/default/configmaps", json.dumps(config_map("fine", **metadata)).encode())
    assert status == 201 and "fine" in names(kube)

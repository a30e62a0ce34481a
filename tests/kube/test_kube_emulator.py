"""The emulated Kubernetes API behaves like a real API server for the `kubernetes` client and `kubectl`."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from transit_sandbox.kube import KubeEmulator

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".tools" / "bin" / "kubectl"
GROUP, VERSION, PLURAL = "test.example.io", "v1", "widgets"

# A tiny CRD with the schema features the project's CRDs use.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": "Widget", "shortNames": ["wd"],
                  "categories": ["gadgets"]},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
            ],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "properties": {
                            "size": {"type": "integer", "minimum": 1, "maximum": 10},
                            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                            "label": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                            "owner": {"type": "string", "format": "uuid"},
                            "zones": {"type": "array", "minItems": 1, "maxItems": 3,
                                      "items": {"type": "string", "minLength": 1}},
                            "options": {"type": "object", "default": {},
                                        "properties": {"interval": {"type": "integer", "default": 300}}},
                            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    },
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }},
        }],
    },
}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name},
            "spec": {"size": 1, **spec}}


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator() as emulator:
        yield emulator


@pytest.fixture
def api_client(kube: KubeEmulator) -> Iterator[client.ApiClient]:
    # An explicit Configuration: the kubernetes package reads $KUBECONFIG only at import time.
    configuration = client.Configuration(host=kube.url)
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def crs(api_client: client.ApiClient) -> client.CustomObjectsApi:
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(copy.deepcopy(WIDGET_CRD))
    return client.CustomObjectsApi(api_client)


def create(crs: client.CustomObjectsApi, body: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    result: dict[str, Any] = crs.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
    return result


def error_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


# ------------------------------------------------------------------------------------- discovery, CRDs

def test_crd_install_registers_the_resource_in_discovery(crs: client.CustomObjectsApi,
                                                         api_client: client.ApiClient) -> None:
    resources = crs.get_api_resources(GROUP, VERSION).resources
    names = {r.name: r for r in resources}
    assert names["widgets"].kind == "Widget"
    assert names["widgets"].short_names == ["wd"]
    assert names["widgets"].categories == ["gadgets"]
    assert names["widgets"].namespaced is True
    assert "widgets/status" in names
    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"


def test_discovery_lists_what_kopf_waits_for(api_client: client.ApiClient) -> None:
    core = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"namespaces", "events", "secrets"} <= core
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apiextensions.k8s.io", "coordination.k8s.io"} <= groups


def test_crd_with_a_name_not_plural_dot_group_is_refused(api_client: client.ApiClient) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"]["name"] = "gadgets.test.example.io"
    with pytest.raises(ApiException) as exc:
        client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    assert exc.value.status == 422
    assert "metadata.name" in error_of(exc)["message"]


# --------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"size": 1, "zones": ["a", "b", "c", "d"]},
                 "spec.zones: Too many: 4: must have at most 3 items", id="maxItems"),
    pytest.param({"size": 1, "zones": []},
                 "spec.zones: Invalid value: 0: spec.zones in body should have at least 1 items", id="minItems"),
    pytest.param({"size": "big"},
                 'spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"',
                 id="type"),
    pytest.param({}, "spec.size: Required value", id="required"),
    pytest.param({"size": 1, "color": "green"},
                 'spec.color: Unsupported value: "green": supported values: "red", "blue"', id="enum"),
    pytest.param({"size": 1, "label": "ABC"},
                 "spec.label: Invalid value: \"ABC\": spec.label in body should match '^[a-z]+$'", id="pattern"),
    pytest.param({"size": 1, "label": "abcdefghij"}, "spec.label: Too long: may not be more than 8 bytes",
                 id="maxLength"),
    pytest.param({"size": 0},
                 "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1",
                 id="minimum"),
    pytest.param({"size": 11},
                 "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
                 id="maximum"),
    pytest.param({"size": 1, "owner": "nope"},
                 'spec.owner: Invalid value: "nope": spec.owner in body must be of type uuid: "nope"', id="format"),
    pytest.param({"size": 1, "zones": ["a", ""]},
                 'spec.zones[1]: Invalid value: "": spec.zones[1] in body should be at least 1 chars long',
                 id="item-path"),
])
def test_invalid_objects_are_refused_with_422_naming_the_field(
        crs: client.CustomObjectsApi, spec: dict[str, Any], message: str) -> None:
    body = widget("bad")
    body["spec"] = spec
    with pytest.raises(ApiException) as exc:
        create(crs, body)
    assert exc.value.status == 422
    status = error_of(exc)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    assert status["message"] == f'Widget.{GROUP} "bad" is invalid: {message}'
    assert status["details"]["causes"][0]["field"] == message.split(":")[0]


def test_several_errors_are_listed_together(crs: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as exc:
        create(crs, widget("bad", size=30, zones=["a", "b", "c", "d"]))
    assert error_of(exc)["message"] == (
        f'Widget.{GROUP} "bad" is invalid: [spec.size: Invalid value: 30: spec.size in body should be less '
        "than or equal to 10, spec.zones: Too many: 4: must have at most 3 items]")


def test_defaults_are_applied_and_unknown_fields_pruned(crs: client.CustomObjectsApi) -> None:
    body = widget("w", unknown="x", extra={"anything": {"goes": 1}})
    body["spec"]["options"] = {"other": 1}
    created = create(crs, body)
    assert created["spec"]["color"] == "red"
    assert created["spec"]["options"] == {"interval": 300}
    assert "unknown" not in created["spec"]
    assert created["spec"]["extra"] == {"anything": {"goes": 1}}


def test_invalid_patch_is_refused_and_leaves_the_object_alone(crs: client.CustomObjectsApi) -> None:
    create(crs, widget("w"))
    with pytest.raises(ApiException) as exc:
        crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 99}})
    assert exc.value.status == 422
    assert crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")["spec"]["size"] == 1


# ------------------------------------------------------------------------------------ object lifecycle

def test_server_assigns_identity_and_status_codes(crs: client.CustomObjectsApi) -> None:
    _, code, _ = crs.create_namespaced_custom_object_with_http_info(GROUP, VERSION, "default", PLURAL, widget("w"))
    assert code == 201
    obj = crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    meta = obj["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert meta["namespace"] == "default" and int(meta["resourceVersion"]) > 0
    with pytest.raises(ApiException) as exc:
        create(crs, widget("w"))
    assert (exc.value.status, error_of(exc)["reason"]) == (409, "AlreadyExists")
    with pytest.raises(ApiException) as exc:
        crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "missing")
    assert (exc.value.status, error_of(exc)["reason"]) == (404, "NotFound")
    with pytest.raises(ApiException) as exc:
        create(crs, widget("w"), namespace="no-such-namespace")
    assert exc.value.status == 404


def test_generation_tracks_spec_and_status_is_a_separate_subresource(crs: client.CustomObjectsApi) -> None:
    create(crs, widget("w"))
    status = {"status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}
    after_status = crs.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "w", status)
    assert after_status["metadata"]["generation"] == 1
    assert after_status["status"]["observedGeneration"] == 1

    # A main-resource write may not touch status; a status write may not touch spec.
    after_spec = crs.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 2}, "status": {"observedGeneration": 99}})
    assert after_spec["metadata"]["generation"] == 2
    assert after_spec["status"]["observedGeneration"] == 1
    after_status = crs.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 7}, "status": {"observedGeneration": 2}})
    assert after_status["spec"]["size"] == 2
    assert after_status["metadata"]["generation"] == 2

    # Metadata-only changes bump resourceVersion but not generation.
    labelled = crs.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "w", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 2
    assert int(labelled["metadata"]["resourceVersion"]) > int(after_status["metadata"]["resourceVersion"])


def test_stale_resource_version_conflicts(crs: client.CustomObjectsApi) -> None:
    first = create(crs, widget("w"))
    crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", {"spec": {"size": 2}})
    stale = copy.deepcopy(first)
    stale["spec"]["size"] = 3
    with pytest.raises(ApiException) as exc:
        crs.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", stale)
    assert (exc.value.status, error_of(exc)["reason"]) == (409, "Conflict")
    fresh = crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    fresh["spec"]["size"] = 3
    replaced = crs.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", fresh)
    assert replaced["spec"]["size"] == 3 and replaced["metadata"]["generation"] == 3


def test_json_patch_with_a_failed_test_op_is_unprocessable(crs: client.CustomObjectsApi,
                                                          kube: KubeEmulator) -> None:
    """kopf adds its finalizer with `test /metadata/resourceVersion` and expects 422 when it lost a race."""
    obj = create(crs, widget("w"))
    url = f"{kube.url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/w"

    def json_patch(ops: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(url, method="PATCH", data=json.dumps(ops).encode(),
                                         headers={"Content-Type": "application/json-patch+json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    code, _ = json_patch([{"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
                          {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}])
    assert code == 422
    code, patched = json_patch([{"op": "test", "path": "/metadata/resourceVersion",
                                 "value": obj["metadata"]["resourceVersion"]},
                                {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}])
    assert (code, patched["metadata"]["finalizers"]) == (200, ["x"])


def test_list_has_kind_resource_version_and_label_selection(crs: client.CustomObjectsApi) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        body = widget(name)
        body["metadata"]["labels"] = {"tier": tier}
        create(crs, body)
    listing = crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, label_selector="tier=web")
    assert listing["kind"] == "WidgetList" and listing["apiVersion"] == f"{GROUP}/{VERSION}"
    assert int(listing["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in listing["items"]] == ["a", "c"]
    listing = crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, label_selector="tier!=web")
    assert [i["metadata"]["name"] for i in listing["items"]] == ["b"]


def test_watch_resumes_from_resource_version_and_times_out(crs: client.CustomObjectsApi) -> None:
    create(crs, widget("before"))
    rv = crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["metadata"]["resourceVersion"]
    create(crs, widget("after"))
    crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "after", {"spec": {"size": 5}})

    started = time.monotonic()
    events = list(watch.Watch().stream(crs.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                                       resource_version=rv, timeout_seconds=1))
    assert time.monotonic() - started < 5
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after"),
                                                                              ("MODIFIED", "after")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)

    # Without a resourceVersion, the watch starts with every object as ADDED.
    events = list(watch.Watch().stream(crs.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                                       timeout_seconds=1))
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["after", "before"]


def test_finalizers_hold_deletion_until_released(crs: client.CustomObjectsApi) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["example.io/cleanup"]
    create(crs, body)
    rv = crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["metadata"]["resourceVersion"]

    crs.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", propagation_policy="Foreground")
    held = crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    assert held["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as exc:  # no new finalizers once deleting
        crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w",
                                           {"metadata": {"finalizers": ["example.io/cleanup", "other"]}})
    assert exc.value.status == 422

    crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as exc:
        crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w")
    assert exc.value.status == 404
    events = list(watch.Watch().stream(crs.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                                       resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]


def test_core_secrets_events_and_namespaces(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_secret("team", {"metadata": {"name": "s"}, "stringData": {"key": "value"}})
    assert core.read_namespaced_secret("s", "team").data == {"key": "dmFsdWU="}
    core.create_namespaced_event("team", {"metadata": {"generateName": "ev-"}, "reason": "Tested",
                                          "message": "hello", "involvedObject": {"name": "s", "namespace": "team"}})
    events = core.list_namespaced_event("team", field_selector="involvedObject.name=s").items
    assert [e.reason for e in events] == ["Tested"]
    core.delete_namespace("team")
    with pytest.raises(ApiException) as exc:
        core.read_namespace("team")
    assert exc.value.status == 404


def test_in_process_helpers_share_the_http_semantics(kube: KubeEmulator) -> None:
    kube.apply(copy.deepcopy(WIDGET_CRD))
    created = kube.apply(widget("w"))
    assert created["spec"]["color"] == "red"
    kube.apply({**widget("w"), "spec": {"size": 4}})
    fetched = kube.get(f"{GROUP}/{VERSION}", "Widget", "w", "default")
    assert fetched is not None and fetched["spec"]["size"] == 4 and fetched["metadata"]["generation"] == 2
    assert kube.get(f"{GROUP}/{VERSION}", "Widget", "missing", "default") is None


def test_project_crds_install_and_validate(api_client: client.ApiClient) -> None:
    files = sorted((ROOT / "crds").glob("*.yaml"))
    if not files:
        pytest.skip("crds/ has no CRDs yet")
    extensions = client.ApiextensionsV1Api(api_client)
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                created = extensions.create_custom_resource_definition(doc)
                assert {c.type: c.status for c in created.status.conditions}["Established"] == "True"
                group, plural = doc["spec"]["group"], doc["spec"]["names"]["plural"]
                version = doc["spec"]["versions"][0]["name"]
                with pytest.raises(ApiException) as exc:  # an empty spec misses required fields
                    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
                        group, version, "default", plural,
                        {"apiVersion": f"{group}/{version}", "kind": doc["spec"]["names"]["kind"],
                         "metadata": {"name": "empty"}, "spec": {}})
                assert exc.value.status == 422


# ------------------------------------------------------------------------------------------- kubectl

needs_kubectl = pytest.mark.skipif(not KUBECTL.exists() and not shutil.which("kubectl"),
                                   reason="kubectl not installed (run scripts/dev bootstrap)")


@pytest.fixture
def kubectl(kube: KubeEmulator, tmp_path: Path) -> Any:
    binary = str(KUBECTL) if KUBECTL.exists() else shutil.which("kubectl")
    config = kube.write_kubeconfig(tmp_path / "kubeconfig")

    def run(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([binary, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"),
                                 *args], input=stdin, capture_output=True, text=True, timeout=60)
        if check and result.returncode:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result
    return run


@needs_kubectl
def test_kubectl_apply_get_with_printer_columns_and_wait(kubectl: Any, kube: KubeEmulator,
                                                         tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(widget("w1", size=3)))
    assert "created" in kubectl("apply", "-f", str(tmp_path / "crd.yaml")).stdout
    assert "widget.test.example.io/w1 created" in kubectl("apply", "-f", str(tmp_path / "w.yaml")).stdout
    assert "unchanged" in kubectl("apply", "-f", str(tmp_path / "w.yaml")).stdout

    table = kubectl("get", "wd").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY"]
    assert table[1].split() == ["w1", "3"]

    def become_ready() -> None:
        time.sleep(0.5)
        kube.call(lambda api: api.patch(api.find(f"{GROUP}/{VERSION}", "Widget"), "default", "w1",
                                        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                                        "merge", subresource="status"))
    thread = threading.Thread(target=become_ready)
    thread.start()
    waited = kubectl("wait", "--for=condition=Ready", "widget/w1", "--timeout=20s")
    thread.join()
    assert "condition met" in waited.stdout
    assert kubectl("get", "widgets", "-A").stdout.splitlines()[1].split() == ["default", "w1", "3", "True"]
    assert kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.color}").stdout == "red"


@needs_kubectl
def test_kubectl_shows_the_servers_field_errors(kubectl: Any, tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    kubectl("apply", "-f", str(tmp_path / "crd.yaml"))
    result = kubectl("apply", "-f", "-", check=False, stdin=yaml.safe_dump(widget("bad", zones=["a"] * 4)))
    assert result.returncode != 0
    assert 'The Widget "bad" is invalid' in result.stderr
    assert "spec.zones: Too many: 4: must have at most 3 items" in result.stderr
    strict = kubectl("apply", "-f", "-", check=False, stdin=yaml.safe_dump(widget("typo", sise=1)))
    assert 'unknown field "spec.sise"' in strict.stderr


@needs_kubectl
def test_kubectl_patch_status_replace_and_delete(kubectl: Any, tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    kubectl("apply", "-f", str(tmp_path / "crd.yaml"))
    kubectl("create", "-f", "-", stdin=yaml.safe_dump(widget("w")))
    kubectl("patch", "widget", "w", "--subresource=status", "--type=merge",
            "-p", '{"status":{"observedGeneration":1}}')
    current = json.loads(kubectl("get", "widget", "w", "-o", "json").stdout)
    current["spec"]["size"] = 9
    kubectl("replace", "-f", "-", stdin=json.dumps(current))
    after = json.loads(kubectl("get", "widget", "w", "-o", "json").stdout)
    assert after["spec"]["size"] == 9 and after["metadata"]["generation"] == 2
    assert after["status"] == {"observedGeneration": 1}
    kubectl("label", "widget", "w", "tier=web")
    assert kubectl("get", "widgets", "-l", "tier=web", "-o", "name").stdout.strip() == "widget.test.example.io/w"
    kubectl("delete", "widget", "w", "--timeout=10s")
    assert "NotFound" in kubectl("get", "widget", "w", check=False).stderr

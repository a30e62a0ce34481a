"""The Kubernetes API conformance the project relies on, run against both API servers: the embedded
emulator and a real kube-apiserver (the oracle). Every case goes through HTTP (the `kubernetes` client,
raw requests, `kubectl`), so where the two disagree the emulator is wrong and gets fixed here.

On the shared real server each test has its own CRD group (`Widgets.group`) and namespace.
"""

from __future__ import annotations

import copy
import json
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from transit_sandbox.kube import ApiError, KubeClient, KubeEmulator, KubeServer

ROOT = Path(__file__).resolve().parents[2]
VERSION, PLURAL = "v1", "widgets"


def widget_crd(group: str) -> dict[str, Any]:
    """A tiny CRD with the schema features the project's CRDs use."""
    return {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{group}"},
    "spec": {
        "group": group,
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


@dataclass
class Widgets:
    """This test's Widget CRD (its own group) and namespace, on one API server."""

    group: str
    namespace: str
    server: KubeServer
    api: client.ApiClient
    cluster: KubeClient

    @property
    def api_version(self) -> str:
        return f"{self.group}/{VERSION}"

    @property
    def crd(self) -> dict[str, Any]:
        return widget_crd(self.group)

    def widget(self, name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": "Widget", "metadata": {"name": name},
                "spec": {"size": 1, **spec}}

    @property
    def crs(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def create(self, body: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.crs.create_namespaced_custom_object(
            self.group, VERSION, namespace or self.namespace, PLURAL, body)
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.crs.get_namespaced_custom_object(self.group, VERSION, self.namespace,
                                                                      PLURAL, name)
        return result

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.crs.patch_namespaced_custom_object(self.group, VERSION, self.namespace,
                                                                        PLURAL, name, body)
        return result

    def list(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.crs.list_namespaced_custom_object(self.group, VERSION, self.namespace,
                                                                       PLURAL, **kwargs)
        return result

    def stream(self, **kwargs: Any) -> list[dict[str, Any]]:
        return list(watch.Watch().stream(self.crs.list_namespaced_custom_object, self.group, VERSION,
                                         self.namespace, PLURAL, **kwargs))

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def raw(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
            ) -> tuple[int, dict[str, Any]]:
        """One request with plain urllib (the admin's token, the server's CA): status and decoded body."""
        token = self.api.configuration.api_key.get("BearerToken") or self.api.configuration.api_key.get(
            "authorization", "")
        headers = {"Content-Type": content_type, "Authorization": token if " " in token else f"Bearer {token}"}
        data = None if body is None else json.dumps(body).encode()
        context = ssl.create_default_context(cafile=self.api.configuration.ssl_ca_cert) \
            if self.server.url.startswith("https") else None
        request = urllib.request.Request(self.url(path), method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def api_client(kube_server: KubeServer) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(config_file=str(kube_server.kubeconfig)) as api:
        yield api


@pytest.fixture
def widgets(kube_server: KubeServer, api_client: client.ApiClient, cluster: KubeClient,
            kube_namespace: str) -> Widgets:
    made = Widgets(f"w{secrets.token_hex(4)}.example.io", kube_namespace, kube_server, api_client, cluster)
    cluster.install_crds([made.crd])
    return made


@pytest.fixture
def crs(widgets: Widgets) -> client.CustomObjectsApi:
    return widgets.crs


def error_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


# ------------------------------------------------------------------------------------- discovery, CRDs

def test_crd_install_registers_the_resource_in_discovery(widgets: Widgets) -> None:
    resources = widgets.crs.get_api_resources(widgets.group, VERSION).resources
    names = {r.name: r for r in resources}
    assert names["widgets"].kind == "Widget"
    assert names["widgets"].short_names == ["wd"]
    assert names["widgets"].categories == ["gadgets"]
    assert names["widgets"].namespaced is True
    assert "widgets/status" in names
    crd = client.ApiextensionsV1Api(widgets.api).read_custom_resource_definition(f"{PLURAL}.{widgets.group}")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"


def test_discovery_lists_what_kopf_waits_for(api_client: client.ApiClient) -> None:
    core = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"namespaces", "events", "secrets"} <= core
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apiextensions.k8s.io", "coordination.k8s.io"} <= groups


def test_crd_with_a_name_not_plural_dot_group_is_refused(widgets: Widgets) -> None:
    crd = widgets.crd
    crd["metadata"]["name"] = f"gadgets.{widgets.group}"
    with pytest.raises(ApiException) as exc:
        client.ApiextensionsV1Api(widgets.api).create_custom_resource_definition(crd)
    assert exc.value.status == 422
    assert "metadata.name" in error_of(exc)["message"]


def test_crd_schema_may_say_nothing_about_metadata_but_name(widgets: Widgets) -> None:
    """The structural-schema rule the project's own CRDs once broke (a description on `metadata`)."""
    crd = widgets.crd
    crd["metadata"]["name"] = f"gizmos.{widgets.group}"
    crd["spec"]["names"] = {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"}
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["metadata"] = {"type": "object", "description": "Standard object metadata."}
    with pytest.raises(ApiException) as exc:
        client.ApiextensionsV1Api(widgets.api).create_custom_resource_definition(crd)
    assert exc.value.status == 422
    assert ("spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other "
            "than name and generateName, but metadata is implicitly specified") in error_of(exc)["message"]


def test_an_int64_maximum_in_a_crd_refuses_every_integer(widgets: Widgets) -> None:
    """The API server holds schema bounds as float64 (2^63-1 becomes 2^63) and compares an integer with
    int64(bound), which overflows: such a CRD is accepted and then refuses every value. The project's CRD
    generator once emitted exactly this bound (api/crd.py now leaves int64 bounds out)."""
    crd = widgets.crd
    crd["metadata"]["name"] = f"counters.{widgets.group}"
    crd["spec"]["names"] = {"plural": "counters", "singular": "counter", "kind": "Counter"}
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["size"] = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    widgets.cluster.install_crds([crd])
    with pytest.raises(ApiException) as exc:
        widgets.crs.create_namespaced_custom_object(
            widgets.group, VERSION, widgets.namespace, "counters",
            {"apiVersion": widgets.api_version, "kind": "Counter", "metadata": {"name": "c"}, "spec": {"size": 2}})
    assert error_of(exc)["message"] == (f'Counter.{widgets.group} "c" is invalid: spec.size: Invalid value: 2: '
                                        "spec.size in body should be less than or equal to -9223372036854775808")


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
        widgets: Widgets, spec: dict[str, Any], message: str) -> None:
    body = widgets.widget("bad")
    body["spec"] = spec
    with pytest.raises(ApiException) as exc:
        widgets.create(body)
    assert exc.value.status == 422
    status = error_of(exc)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    assert status["message"] == f'Widget.{widgets.group} "bad" is invalid: {message}'
    assert status["details"]["causes"][0]["field"] == message.split(":")[0]


def test_several_errors_are_listed_together(widgets: Widgets) -> None:
    with pytest.raises(ApiException) as exc:
        widgets.create(widgets.widget("bad", size=30, zones=["a", "b", "c", "d"]))
    size = "spec.size: Invalid value: 30: spec.size in body should be less than or equal to 10"
    zones = "spec.zones: Too many: 4: must have at most 3 items"
    # The real server's order varies (kube-openapi walks the properties of a Go map): either is right.
    assert error_of(exc)["message"] in {f'Widget.{widgets.group} "bad" is invalid: [{first}, {second}]'
                                        for first, second in ((size, zones), (zones, size))}
    assert {cause["field"] for cause in error_of(exc)["details"]["causes"]} == {"spec.size", "spec.zones"}


def test_defaults_are_applied_and_unknown_fields_pruned(widgets: Widgets) -> None:
    body = widgets.widget("w", unknown="x", extra={"anything": {"goes": 1}})
    body["spec"]["options"] = {"other": 1}
    created = widgets.create(body)
    assert created["spec"]["color"] == "red"
    assert created["spec"]["options"] == {"interval": 300}
    assert "unknown" not in created["spec"]
    assert created["spec"]["extra"] == {"anything": {"goes": 1}}


def test_invalid_patch_is_refused_and_leaves_the_object_alone(widgets: Widgets) -> None:
    widgets.create(widgets.widget("w"))
    with pytest.raises(ApiException) as exc:
        widgets.patch("w", {"spec": {"size": 99}})
    assert exc.value.status == 422
    assert widgets.get("w")["spec"]["size"] == 1


# ------------------------------------------------------------------------------------ object lifecycle

def test_server_assigns_identity_and_status_codes(widgets: Widgets) -> None:
    _, code, _ = widgets.crs.create_namespaced_custom_object_with_http_info(
        widgets.group, VERSION, widgets.namespace, PLURAL, widgets.widget("w"))
    assert code == 201
    meta = widgets.get("w")["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert meta["namespace"] == widgets.namespace and int(meta["resourceVersion"]) > 0
    with pytest.raises(ApiException) as exc:
        widgets.create(widgets.widget("w"))
    assert (exc.value.status, error_of(exc)["reason"]) == (409, "AlreadyExists")
    with pytest.raises(ApiException) as exc:
        widgets.get("missing")
    assert (exc.value.status, error_of(exc)["reason"]) == (404, "NotFound")
    with pytest.raises(ApiException) as exc:
        widgets.create(widgets.widget("w"), namespace="no-such-namespace")
    assert exc.value.status == 404


def test_generation_tracks_spec_and_status_is_a_separate_subresource(widgets: Widgets) -> None:
    crs, group, ns = widgets.crs, widgets.group, widgets.namespace
    widgets.create(widgets.widget("w"))
    status = {"status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}}
    after_status = crs.patch_namespaced_custom_object_status(group, VERSION, ns, PLURAL, "w", status)
    assert after_status["metadata"]["generation"] == 1
    assert after_status["status"]["observedGeneration"] == 1

    # A main-resource write may not touch status; a status write may not touch spec.
    after_spec = widgets.patch("w", {"spec": {"size": 2}, "status": {"observedGeneration": 99}})
    assert after_spec["metadata"]["generation"] == 2
    assert after_spec["status"]["observedGeneration"] == 1
    after_status = crs.patch_namespaced_custom_object_status(
        group, VERSION, ns, PLURAL, "w", {"spec": {"size": 7}, "status": {"observedGeneration": 2}})
    assert after_status["spec"]["size"] == 2
    assert after_status["metadata"]["generation"] == 2

    # Metadata-only changes bump resourceVersion but not generation.
    labelled = widgets.patch("w", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 2
    assert int(labelled["metadata"]["resourceVersion"]) > int(after_status["metadata"]["resourceVersion"])


def test_stale_resource_version_conflicts(widgets: Widgets) -> None:
    crs, group, ns = widgets.crs, widgets.group, widgets.namespace
    first = widgets.create(widgets.widget("w"))
    widgets.patch("w", {"spec": {"size": 2}})
    stale = copy.deepcopy(first)
    stale["spec"]["size"] = 3
    with pytest.raises(ApiException) as exc:
        crs.replace_namespaced_custom_object(group, VERSION, ns, PLURAL, "w", stale)
    assert (exc.value.status, error_of(exc)["reason"]) == (409, "Conflict")
    fresh = widgets.get("w")
    fresh["spec"]["size"] = 3
    replaced = crs.replace_namespaced_custom_object(group, VERSION, ns, PLURAL, "w", fresh)
    assert replaced["spec"]["size"] == 3 and replaced["metadata"]["generation"] == 3


def test_json_patch_with_a_failed_test_op_is_unprocessable(widgets: Widgets) -> None:
    """kopf adds its finalizer with `test /metadata/resourceVersion` and expects 422 when it lost a race."""
    obj = widgets.create(widgets.widget("w"))
    path = f"/apis/{widgets.api_version}/namespaces/{widgets.namespace}/{PLURAL}/w"
    patch = "application/json-patch+json"

    code, _ = widgets.raw("PATCH", path, [{"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
                                          {"op": "add", "path": "/metadata/finalizers", "value": ["x.io/y"]}], patch)
    assert code == 422
    code, patched = widgets.raw("PATCH", path, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x.io/y"]}], patch)
    assert (code, patched["metadata"]["finalizers"]) == (200, ["x.io/y"])


def test_list_has_kind_resource_version_and_label_selection(widgets: Widgets) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        body = widgets.widget(name)
        body["metadata"]["labels"] = {"tier": tier}
        widgets.create(body)
    listing = widgets.list(label_selector="tier=web")
    assert listing["kind"] == "WidgetList" and listing["apiVersion"] == widgets.api_version
    assert int(listing["metadata"]["resourceVersion"]) > 0
    assert [i["metadata"]["name"] for i in listing["items"]] == ["a", "c"]
    listing = widgets.list(label_selector="tier!=web")
    assert [i["metadata"]["name"] for i in listing["items"]] == ["b"]


def test_watch_resumes_from_resource_version_and_times_out(widgets: Widgets) -> None:
    widgets.create(widgets.widget("before"))
    rv = widgets.list()["metadata"]["resourceVersion"]
    widgets.create(widgets.widget("after"))
    widgets.patch("after", {"spec": {"size": 5}})

    started = time.monotonic()
    events = widgets.stream(resource_version=rv, timeout_seconds=1)
    assert time.monotonic() - started < 5
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "after"),
                                                                              ("MODIFIED", "after")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)

    # Without a resourceVersion, the watch starts with every object as ADDED.
    events = widgets.stream(timeout_seconds=1)
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["after", "before"]


def test_finalizers_hold_deletion_until_released(widgets: Widgets) -> None:
    body = widgets.widget("w")
    body["metadata"]["finalizers"] = ["example.io/cleanup"]
    widgets.create(body)
    rv = widgets.list()["metadata"]["resourceVersion"]

    widgets.crs.delete_namespaced_custom_object(widgets.group, VERSION, widgets.namespace, PLURAL, "w",
                                                propagation_policy="Foreground")
    held = widgets.get("w")
    assert held["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as exc:  # no new finalizers once deleting
        widgets.patch("w", {"metadata": {"finalizers": ["example.io/cleanup", "example.io/other"]}})
    assert exc.value.status == 422

    widgets.patch("w", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as exc:
        widgets.get("w")
    assert exc.value.status == 404
    events = widgets.stream(resource_version=rv, timeout_seconds=1)
    assert [e["type"] for e in events][-2:] == ["MODIFIED", "DELETED"]


def test_core_secrets_and_events(widgets: Widgets) -> None:
    core = client.CoreV1Api(widgets.api)
    ns = widgets.namespace
    core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"key": "value"}})
    assert core.read_namespaced_secret("s", ns).data == {"key": "dmFsdWU="}
    core.create_namespaced_event(ns, {"metadata": {"generateName": "ev-"}, "reason": "Tested",
                                      "message": "hello", "involvedObject": {"name": "s", "namespace": ns}})
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=s").items
    assert [e.reason for e in events] == ["Tested"]


def test_generate_name_cuts_the_base_and_adds_five_consonants_or_digits(widgets: Widgets) -> None:
    """kopf names every Event it posts with `generateName: kopf-event-`; the server makes the name."""
    core = client.CoreV1Api(widgets.api)
    base = "e" * 62 + "-"
    made = core.create_namespaced_event(widgets.namespace, {
        "metadata": {"generateName": base}, "reason": "Tested", "message": "hello",
        "involvedObject": {"name": "s", "namespace": widgets.namespace}})
    name = made.metadata.name
    assert len(name) == 63 and name[:58] == base[:58], name
    assert set(name[58:]) <= set("bcdfghjklmnpqrstvwxz2456789"), name


def test_a_generated_name_that_exists_is_generated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator does what RetryGenerateName does (8 attempts in all); the real server's random names
    cannot be made to collide, so this one runs on the emulator alone."""
    from transit_sandbox.kube import store

    ns = "names"
    event = {"apiVersion": "v1", "kind": "Event", "reason": "Tested", "message": "hello",
             "involvedObject": {"name": "s", "namespace": ns}}
    with KubeEmulator() as emulator:
        cluster = emulator.client()
        cluster.ensure_namespace(ns)
        cluster.create({**event, "metadata": {"name": "ev-taken", "namespace": ns}})
        names = iter(["ev-taken", "ev-taken", "ev-free"])
        monkeypatch.setattr(store, "generated_name", lambda base: next(names))
        made = cluster.create({**event, "metadata": {"generateName": "ev-", "namespace": ns}})
        assert made["metadata"]["name"] == "ev-free"
        monkeypatch.setattr(store, "generated_name", lambda base: "ev-taken")
        with pytest.raises(ApiError) as exc:  # 8 attempts, every one taken
            cluster.create({**event, "metadata": {"generateName": "ev-", "namespace": ns}})
        assert (exc.value.code, exc.value.reason) == (409, "AlreadyExists")


def test_deleting_a_namespace_marks_it_terminating(widgets: Widgets) -> None:
    """Deletion of the namespace itself (the real server finishes it only with a namespace controller)."""
    core = client.CoreV1Api(widgets.api)
    name = f"gone-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name}})
    core.delete_namespace(name)
    try:
        state = core.read_namespace(name)
    except ApiException as exc:
        assert exc.status == 404  # the emulator removes an empty namespace at once
    else:
        assert state.metadata.deletion_timestamp is not None and state.status.phase == "Terminating"
    with pytest.raises(ApiException) as exc:  # either way, nothing new goes into it
        core.create_namespaced_secret(name, {"metadata": {"name": "late"}})
    assert exc.value.status in (403, 404)


def test_project_crds_install_and_validate(widgets: Widgets) -> None:
    files = sorted((ROOT / "crds").glob("*.yaml"))
    assert files
    crds = [doc for path in files for doc in yaml.safe_load_all(path.read_text())
            if doc and doc.get("kind") == "CustomResourceDefinition"]
    widgets.cluster.install_crds(crds)
    for doc in crds:
        group, plural = doc["spec"]["group"], doc["spec"]["names"]["plural"]
        version = doc["spec"]["versions"][0]["name"]
        with pytest.raises(ApiException) as exc:  # an empty spec misses required fields
            client.CustomObjectsApi(widgets.api).create_namespaced_custom_object(
                group, version, widgets.namespace, plural,
                {"apiVersion": f"{group}/{version}", "kind": doc["spec"]["names"]["kind"],
                 "metadata": {"name": "empty"}, "spec": {}})
        assert exc.value.status == 422


# ------------------------------------------------------------------------------------------- kubectl

Kubectl = Callable[..., Any]


def test_kubectl_apply_get_with_printer_columns_and_wait(widgets: Widgets, kubectl: Kubectl,
                                                         tmp_path: Path) -> None:
    config_file = widgets.server.write_kubeconfig(tmp_path / "kubeconfig", namespace=widgets.namespace)
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(widgets.widget("w1", size=3)))
    run = lambda *args, **kw: kubectl(*args, kubeconfig=config_file, **kw)  # noqa: E731
    assert f"widget.{widgets.group}/w1 created" in run("apply", "-f", str(tmp_path / "w.yaml")).stdout
    assert "unchanged" in run("apply", "-f", str(tmp_path / "w.yaml")).stdout

    table = run("get", f"widgets.{widgets.group}").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "READY"]
    assert table[1].split() == ["w1", "3"]

    def become_ready() -> None:
        time.sleep(0.5)
        widgets.cluster.patch(widgets.api_version, "Widget", "w1", widgets.namespace,
                              {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                              subresource="status")
    thread = threading.Thread(target=become_ready)
    thread.start()
    waited = run("wait", "--for=condition=Ready", f"widgets.{widgets.group}/w1", "--timeout=20s")
    thread.join()
    assert "condition met" in waited.stdout
    row = [line.split() for line in run("get", f"widgets.{widgets.group}", "-A").stdout.splitlines()
           if widgets.namespace in line]
    assert row == [[widgets.namespace, "w1", "3", "True"]]
    assert run("get", f"widgets.{widgets.group}", "w1", "-o", "jsonpath={.spec.color}").stdout == "red"


def test_kubectl_shows_the_servers_field_errors(widgets: Widgets, kubectl: Kubectl, tmp_path: Path) -> None:
    config_file = widgets.server.write_kubeconfig(tmp_path / "kubeconfig", namespace=widgets.namespace)
    result = kubectl("apply", "-f", "-", kubeconfig=config_file, check=False,
                     stdin=yaml.safe_dump(widgets.widget("bad", zones=["a"] * 4)))
    assert result.returncode != 0
    assert 'The Widget "bad" is invalid' in result.stderr
    assert "spec.zones: Too many: 4: must have at most 3 items" in result.stderr
    strict = kubectl("apply", "-f", "-", kubeconfig=config_file, check=False,
                     stdin=yaml.safe_dump(widgets.widget("typo", sise=1)))
    assert 'unknown field "spec.sise"' in strict.stderr


def test_kubectl_patch_status_replace_and_delete(widgets: Widgets, kubectl: Kubectl, tmp_path: Path) -> None:
    config_file = widgets.server.write_kubeconfig(tmp_path / "kubeconfig", namespace=widgets.namespace)
    run = lambda *args, **kw: kubectl(*args, kubeconfig=config_file, **kw)  # noqa: E731
    resource = f"widgets.{widgets.group}"
    run("create", "-f", "-", stdin=yaml.safe_dump(widgets.widget("w")))
    run("patch", resource, "w", "--subresource=status", "--type=merge", "-p", '{"status":{"observedGeneration":1}}')
    current = json.loads(run("get", resource, "w", "-o", "json").stdout)
    current["spec"]["size"] = 9
    run("replace", "-f", "-", stdin=json.dumps(current))
    after = json.loads(run("get", resource, "w", "-o", "json").stdout)
    assert after["spec"]["size"] == 9 and after["metadata"]["generation"] == 2
    assert after["status"] == {"observedGeneration": 1}
    run("label", resource, "w", "tier=web")
    assert run("get", resource, "-l", "tier=web", "-o", "name").stdout.strip() == f"widget.{widgets.group}/w"
    run("delete", resource, "w", "--timeout=10s")
    assert "NotFound" in run("get", resource, "w", check=False).stderr

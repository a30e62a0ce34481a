"""The Kubernetes API as tests and the sandbox command reach it: over HTTP, with the `kubernetes` client's
authentication (a kubeconfig), never through an emulator's Python internals — so one test body runs
unchanged against the embedded emulator (`KubeEmulator`) and a real kube-apiserver (`RealApiServer`).

```python
cluster: Cluster = KubeClient(server.kubeconfig)
cluster.apply(obj)                                   # server-side apply (field manager "transit-sandbox")
cluster.get("v1", "Secret", "name", "namespace")     # None when absent
cluster.patch(api_version, kind, name, namespace, {"spec": {...}})   # JSON merge patch
cluster.delete(api_version, kind, name, namespace)
```
Errors are `transit_sandbox.kube.ApiError` (HTTP status as `code`, the server's `Status` reason, message
and details), whichever server answered.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Protocol

import yaml

from transit_sandbox.kube.store import ApiError

FIELD_MANAGER = "transit-sandbox"
_CRD_API = "apiextensions.k8s.io/v1"


class Cluster(Protocol):
    """What tests and the sandbox command do with a Kubernetes API."""

    kubeconfig: Path

    def create(self, obj: dict[str, Any]) -> dict[str, Any]: ...
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]: ...
    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None: ...
    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]: ...
    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict[str, Any], *,
              subresource: str | None = None) -> dict[str, Any]: ...
    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None: ...
    def ensure_namespace(self, name: str) -> None: ...
    def install_crds(self, crds: list[dict[str, Any]], timeout: float = 30.0) -> None: ...


def write_kubeconfig(path: str | Path, server: str, token: str, *, ca_pem: Path | None = None,
                     namespace: str = "default", name: str = "transit-sandbox") -> Path:
    """A kubeconfig with one context: `server`, bearer `token`, the CA (inline) when the server speaks TLS."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(Path(ca_pem).read_bytes()).decode()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": name, "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path


def _error(exc: Any) -> ApiError:
    """A `kubernetes.client.ApiException` as an ApiError (its body is a `Status`, when the server sent one)."""
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    return ApiError(int(exc.status or 0), str(status.get("reason") or exc.reason or ""),
                    str(status.get("message") or exc.body or exc.reason), status.get("details") or {})


class KubeClient:
    """`Cluster` over HTTP: the `kubernetes` client's configuration (auth, TLS) and plain REST paths.

    Thread-safe (the client's connection pool is); the resource discovery cache is refreshed on a miss
    (a CRD installed after the client was made)."""

    def __init__(self, kubeconfig: str | Path) -> None:
        from kubernetes import config

        self.kubeconfig = Path(kubeconfig)
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self._resources: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    # ------------------------------------------------------------------------------------ REST

    def request(self, method: str, path: str, body: Any = None, *, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> Any:
        """One API call; the decoded JSON answer (None when empty). Raises ApiError."""
        from kubernetes.client.exceptions import ApiException

        url_path = path + ("?" + urllib.parse.urlencode(query) if query else "")
        method, url, headers, serialized, _ = self.api.param_serialize(
            method=method, resource_path=url_path, header_params={"Content-Type": content_type,
                                                                  "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method, url, header_params=headers, body=serialized,
                                         _request_timeout=60)
            response.read()
        except ApiException as exc:
            raise _error(exc) from None
        if not 200 <= response.status < 300:
            raise _error(ApiException(http_resp=response))
        return json.loads(response.data) if response.data else None

    def resource(self, api_version: str, kind: str) -> dict[str, Any]:
        """Discovery's entry for `kind` in `api_version` (name, namespaced, ...); 404 ApiError if none."""
        for refresh in (False, True):
            with self._lock:
                known = None if refresh else self._resources.get(api_version)
            if known is None:
                base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
                try:
                    listing = self.request("GET", base)
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    listing = {"resources": []}
                known = {r["kind"]: r for r in listing.get("resources") or [] if "/" not in r["name"]}
                with self._lock:
                    self._resources[api_version] = known
            if kind in known:
                return known[kind]
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    def path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        resource = self.resource(api_version, kind)
        parts = [f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"]
        if resource["namespaced"]:
            parts.append(f"namespaces/{namespace or 'default'}")
        parts.append(resource["name"])
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)

    # ------------------------------------------------------------------------------------ Cluster

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        path = self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        created: dict[str, Any] = self.request("POST", path, obj)
        return created

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply, forcing conflicts (like `kubectl apply --server-side --force-conflicts`)."""
        meta = obj.get("metadata") or {}
        path = self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        applied: dict[str, Any] = self.request("PATCH", path, obj, content_type="application/apply-patch+yaml",
                                               query={"fieldManager": FIELD_MANAGER, "force": "true"})
        return applied

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.request("GET", self.path(api_version, kind, namespace, name))
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise
        return found

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of `kind` (in `namespace`, or in all namespaces when None), with kind/apiVersion set."""
        resource = self.resource(api_version, kind)
        if resource["namespaced"] and namespace is None:
            base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            path = f"{base}/{resource['name']}"
        else:
            path = self.path(api_version, kind, namespace)
        items: list[dict[str, Any]] = self.request("GET", path)["items"]
        for item in items:  # list items carry no kind/apiVersion on a real server
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        return items

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: dict[str, Any], *,
              subresource: str | None = None) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386) of the object or one of its subresources."""
        path = self.path(api_version, kind, namespace, name, subresource)
        patched: dict[str, Any] = self.request("PATCH", path, patch, content_type="application/merge-patch+json")
        return patched

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        self.request("DELETE", self.path(api_version, kind, namespace, name))

    # ------------------------------------------------------------------------------------ helpers

    def ensure_namespace(self, name: str) -> None:
        if self.get("v1", "Namespace", name) is None:
            try:
                self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            except ApiError as exc:
                if exc.code != 409:
                    raise

    def install_crds(self, crds: list[dict[str, Any]], timeout: float = 30.0) -> None:
        """Apply CRDs and wait until each is Established and served (a real server takes a moment)."""
        for crd in crds:
            self.apply(crd)
        deadline = time.monotonic() + timeout
        for crd in crds:
            spec = crd["spec"]
            version = next(v["name"] for v in spec["versions"] if v.get("served", True))
            while True:
                current = self.get(_CRD_API, "CustomResourceDefinition", crd["metadata"]["name"]) or {}
                established = any(c.get("type") == "Established" and c.get("status") == "True"
                                  for c in (current.get("status") or {}).get("conditions") or [])
                if established:
                    try:
                        self.resource(f"{spec['group']}/{version}", spec["names"]["kind"])
                        break
                    except ApiError:
                        pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"CRD {crd['metadata']['name']} not served within {timeout:g}s")
                time.sleep(0.1)

    def request_token(self, namespace: str, service_account: str, seconds: int = 3600) -> str:
        """A token for a ServiceAccount from the TokenRequest API (what a Pod's projected token is)."""
        answer = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": seconds}})
        return str(answer["status"]["token"])

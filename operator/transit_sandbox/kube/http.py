"""The REST surface of the emulated API server: parses Kubernetes URLs (discovery, resources, subresources,
watch) and hands them to `store.KubeApi`; errors become `Status` bodies."""

from __future__ import annotations

import asyncio
import collections
import json
from typing import Any

import yaml
from aiohttp import web

from transit_sandbox.kube import protobuf
from transit_sandbox.kube.openapi import openapi_answer
from transit_sandbox.kube.store import ApiError, KubeApi, ResourceType
from transit_sandbox.kube.tables import build_table
from transit_sandbox.limits import MAX_REQUEST_BYTES, BodyTooLarge, load_json, load_yaml, read_limited

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json",
                        headers=headers)


def _page_not_found() -> web.Response:
    """What kube-apiserver's mux answers for a path no API group serves: plain text, not a Status."""
    return web.Response(text="404 page not found\n", status=404, content_type="text/plain")


class KubeHttp:
    """The REST surface: parses Kubernetes URLs and hands them to `KubeApi`."""

    def __init__(self, api: KubeApi, version: dict[str, str]) -> None:
        self.api = api
        self.version = version

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._route(request)
        except ApiError as exc:
            return _json(exc.status(), exc.code)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if not parts:
            return _json({"paths": sorted({"/api", "/api/v1", "/apis", "/version", "/openapi/v3"}
                                          | {f"/apis/{rt.group}/{rt.version}" for rt in self.api.types() if rt.group})})
        if parts == ["version"]:
            return _json(self.version)
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return web.Response(text="ok")
        if parts[0] == "openapi" and parts[1:2] == ["v3"]:
            return _json(openapi_answer(self.api, self.version["gitVersion"], parts[2:]))
        if parts[0] == "api":
            if len(parts) == 1:
                return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}]})
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": self._groups()})
            if len(parts) == 2:
                for group_info in self._groups():
                    if group_info["name"] == parts[1]:
                        return _json({"kind": "APIGroup", "apiVersion": "v1", **group_info})
                return _page_not_found()
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return _page_not_found()
        if rest and not any(rt.group == group and rt.version == version for rt in self.api.types()):
            return _page_not_found()
        if not rest:
            return self._resource_list(group, version)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rt = self.api.lookup(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and not (subresource == "status" and rt.status_subresource):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await self._resource(request, rt, namespace, name, subresource)

    async def _resource(self, request: web.Request, rt: ResourceType, namespace: str | None, name: str | None,
                        subresource: str | None) -> web.StreamResponse:
        query = request.query
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        field_validation = query.get("fieldValidation", "Warn")
        dry_run = query.get("dryRun") == "All"
        method = request.method
        if method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                return await self._watch(request, rt, namespace)
            listing = self.api.list_objects(rt, namespace, labels, fields)
            if _wants_table(request):
                return _json(build_table(rt, listing["items"], query.get("includeObject", "Metadata"),
                                         listing["metadata"]["resourceVersion"]))
            return _json(listing)
        if method == "GET":
            assert name is not None
            obj = self.api.get(rt, namespace, name)
            if _wants_table(request):
                return _json(build_table(rt, [obj], query.get("includeObject", "Metadata"),
                                         str(self.api.resource_version)))
            return _json(obj)
        if method == "POST" and name is None:
            obj, warnings = self.api.create(rt, namespace, await self._body(request, kind=rt.kind),
                                            field_validation=field_validation, dry_run=dry_run)
            return _json(obj, 201, warnings)
        if method == "PUT" and name is not None:
            obj, warnings = self.api.replace(rt, namespace, name, await self._body(request, kind=rt.kind),
                                             subresource=subresource, field_validation=field_validation,
                                             dry_run=dry_run)
            return _json(obj, 200, warnings)
        if method == "PATCH" and name is not None:
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            patch_type = {"application/json-patch+json": "json", "application/merge-patch+json": "merge",
                          "application/strategic-merge-patch+json": "strategic",
                          "application/apply-patch+yaml": "apply"}.get(content_type)
            if patch_type is None:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                                            "accepted media types include: application/json-patch+json, "
                                                            "application/merge-patch+json, "
                                                            "application/apply-patch+yaml")
            obj, warnings, created = self.api.patch(
                rt, namespace, name, await self._body(request, kind=rt.kind), patch_type, subresource=subresource,
                field_validation=field_validation, dry_run=dry_run, field_manager=query.get("fieldManager"))
            return _json(obj, 201 if created else 200, warnings)
        if method == "DELETE" and name is not None and subresource is None:
            options = await self._body(request, required=False)
            obj = self.api.delete(rt, namespace, name, options, dry_run=dry_run)
            if rt.custom or rt.plural in ("namespaces", "customresourcedefinitions"):
                return _json(obj)
            return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                          "details": {"name": name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}})
        if method == "DELETE" and name is None:
            return _json(self.api.delete_collection(rt, namespace, labels, fields))
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    @staticmethod
    async def _body(request: web.Request, required: bool = True, kind: str = "") -> Any:
        try:
            raw = await read_limited(request)
        except BodyTooLarge:
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_REQUEST_BYTES}") from None
        if not raw.strip():
            if required:
                raise ApiError(400, "BadRequest", "the body of the request was empty")
            return None
        content_type = request.headers.get("Content-Type", "")
        try:
            if content_type.startswith(protobuf.CONTENT_TYPE):
                return protobuf.decode(raw)
            if "yaml" in content_type:
                return load_yaml(raw)
            return load_json(raw)
        except protobuf.ProtobufError as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from None
        except yaml.YAMLError as exc:
            if "aliases" in str(exc) or "expands to" in str(exc):  # go-yaml's guard, as the real server words it
                raise ApiError(400, "BadRequest", f"the object provided is unrecognized (must be of type {kind}): "
                                                  "yaml: document contains excessive aliasing") from None
            raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from None
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {exc}") from None

    async def _watch(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.StreamResponse:
        query = request.query
        watcher = self.api.subscribe(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"),
                                     query.get("resourceVersion"), query.get("sendInitialEvents") == "true")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        table = _wants_table(request)
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        try:
            await response.prepare(request)
            while True:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout=remaining)
                except TimeoutError:
                    break
                if item is None:
                    break
                event_type, obj = item
                if event_type not in ("ERROR", "BOOKMARK"):
                    obj = self.api.render(rt, obj)
                    if table:
                        obj = build_table(rt, [obj], query.get("includeObject", "Metadata"),
                                          obj["metadata"]["resourceVersion"])
                await response.write(json.dumps({"type": event_type, "object": obj}).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.api.unsubscribe(watcher)
        return response

    def _groups(self) -> list[dict[str, Any]]:
        versions: dict[str, list[str]] = collections.defaultdict(list)
        for rt in self.api.types():
            if rt.group and rt.version not in versions[rt.group]:
                versions[rt.group].append(rt.version)
        groups = []
        for group, served in sorted(versions.items()):
            entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(served, reverse=True)]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return groups

    def _resource_list(self, group: str, version: str) -> web.Response:
        served = [rt for rt in self.api.types() if rt.group == group and rt.version == version]
        if not served and (group or version != "v1"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources: list[dict[str, Any]] = []
        for rt in sorted(served, key=lambda r: r.plural):
            resources.append({"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                              "kind": rt.kind, "verbs": VERBS, "shortNames": list(rt.short_names),
                              "categories": list(rt.categories)})
            if rt.status_subresource:
                resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        return _json({"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": f"{group}/{version}" if group else version, "resources": resources})

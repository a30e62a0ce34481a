"""An emulated Kubernetes API server, in memory, for kopf, the `kubernetes` client and real `kubectl`.

Why our own small aiohttp server and not a subclass of kmock's `KubernetesEmulator`: kmock keeps objects
as a history of plain dict merges and changes state inside its request interceptor (`_handle`) before any
override can answer, treats PUT and PATCH alike, and has no resourceVersion, generation, status
subresource, 404s or schema validation (see ../shared/design/test-substrate.md). A subclass would
override almost every method and still fight the DSL underneath; one catch-all route over a plain store
is smaller and behaves exactly as we decide.

What it does, like a real API server:

- discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`), `/version`, and an `/openapi/v3`
  good enough for `kubectl apply` (it advertises the `fieldValidation` parameter) and `kubectl explain`;
- built-in core `namespaces`, `secrets`, `configmaps`, `events`, `coordination.k8s.io` `leases` and
  `apiextensions.k8s.io` `customresourcedefinitions`; POSTing a CRD registers its resources (names, short
  names, categories, scope, per-version schema, status subresource, printer columns);
- writes of custom resources are pruned, defaulted and validated against the CRD's `openAPIV3Schema`
  (`kube_schema`), refused with 422 and a `Status` whose message names the field path;
- server-assigned `uid`, `creationTimestamp`, a global monotonically increasing `resourceVersion`,
  `metadata.generation` bumped on spec changes only; 201/409/404/409-conflict like the real thing;
- list (`kind: XList`, label and field selectors), watch (`application/json` stream that resumes from
  `resourceVersion`, honours `timeoutSeconds`, answers 410 Expired when too old, `sendInitialEvents`),
  PUT, PATCH (merge, JSON patch, strategic merge as merge, server-side apply as merge), the `status`
  subresource, DELETE with finalizers and namespace cascade, `dryRun=All`, server-side Tables for
  `kubectl get` (printer columns).

It runs in a background thread with its own event loop (`KubeEmulator.start()`), so clients in any
other loop or thread can use it. It never imports `transit_operator`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from transit_sandbox.kube_patch import (
    PatchError,
    field_selector_matches,
    json_patch,
    jsonpath_values,
    label_selector_matches,
    strip_strategic_directives,
)
from transit_sandbox.kube_schema import FieldError, apply_defaults, prune, validate
from transit_sandbox.kube_validation import meta_errors, secret_decode_error, secret_errors
from transit_sandbox.limits import MAX_REQUEST_BYTES, BodyTooLarge, load_json, load_yaml, read_limited
from transit_sandbox.merge_patch import merge_patch

__all__ = ["ApiError", "KubeApi", "KubeEmulator", "ResourceType"]

_T = TypeVar("_T")
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_WATCH_LOG_SIZE = 20000
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class ResourceType:
    """One served resource: group/version/plural and what discovery says about it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    custom: bool = False  # defined by a CRD (generation tracked, the object returned on DELETE)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:  # "confluentprivatelinks.transit.privatelink.io"
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:  # "ConfluentPrivateLink.transit.privatelink.io"
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_key(self) -> tuple[str, str]:
        return self.group, self.plural


class ApiError(Exception):
    """An API error: HTTP status and a Kubernetes `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.group_resource} "{name}" not found',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def _conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def _invalid(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(422, "Invalid", f'{rt.group_kind} "{name}" is invalid: {text}',
                    {"name": name, "group": rt.group, "kind": rt.kind,
                     "causes": [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors]})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(timestamp: str | None) -> str:
    """kubectl's short human duration."""
    if not timestamp:
        return "<unknown>"
    then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _builtin_types() -> list[ResourceType]:
    return [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), status_subresource=True),
        ResourceType("", "v1", "secrets", "secret", "Secret", True),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
        ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                     "CustomResourceDefinition", False, ("crd", "crds"), status_subresource=True,
                     printer_columns=[{"name": "Created At", "type": "date",
                                       "jsonPath": ".metadata.creationTimestamp"}]),
    ]


class _Watcher:
    """One watch stream's filter and queue (events are dicts `{"type", "object", "rt"}`)."""

    def __init__(self, storage_key: tuple[str, str], namespace: str | None, labels: str | None,
                 fields: str | None) -> None:
        self.storage_key = storage_key
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    def wants(self, storage_key: tuple[str, str], obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        return (storage_key == self.storage_key
                and (self.namespace is None or meta.get("namespace") == self.namespace)
                and label_selector_matches(self.labels, meta.get("labels"))
                and field_selector_matches(self.fields, obj))


class KubeApi:
    """The API server's semantics over an in-memory store. Not thread-safe: call it from one loop/thread."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        self._log: collections.deque[tuple[int, tuple[str, str], str, dict[str, Any]]] = collections.deque(
            maxlen=_WATCH_LOG_SIZE)
        self._watchers: set[_Watcher] = set()
        self._rv = 0
        for rt in _builtin_types():
            self._types[(rt.group, rt.version, rt.plural)] = rt
        for name in ("default", "kube-system", "kube-public"):
            self.create(self.find("v1", "Namespace"), None, {"metadata": {"name": name}})

    # ------------------------------------------------------------------------------------ types

    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def find(self, api_version: str, kind: str) -> ResourceType:
        """The type serving `kind` in `api_version` (raises 404 ApiError)."""
        group, _, version = api_version.rpartition("/")
        for rt in self._types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    @property
    def resource_version(self) -> int:
        return self._rv

    # ------------------------------------------------------------------------------------ reads

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[rt.storage_key].get((namespace or "", name))
        if obj is None:
            raise _not_found(rt, name)
        return self._render(rt, obj)

    def list_objects(self, rt: ResourceType, namespace: str | None, labels: str | None = None,
             fields: str | None = None) -> dict[str, Any]:
        items = [self._render(rt, obj) for (ns, _), obj in sorted(self._objects[rt.storage_key].items())
                 if (namespace is None or ns == namespace)
                 and label_selector_matches(labels, obj["metadata"].get("labels"))
                 and field_selector_matches(fields, obj)]
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _render(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        out["apiVersion"] = rt.api_version  # served in the requested version (no conversion needed)
        return out

    # ------------------------------------------------------------------------------------ writes

    def create(self, rt: ResourceType, namespace: str | None, body: dict[str, Any], *,
               field_validation: str = "Warn", dry_run: bool = False) -> tuple[dict[str, Any], list[str]]:
        obj = copy.deepcopy(body)
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        meta = obj.setdefault("metadata", {})
        if obj.get("kind", rt.kind) != rt.kind or obj.get("apiVersion", rt.api_version) not in self._versions(rt):
            raise ApiError(400, "BadRequest", f"the API version in the data ({obj.get('apiVersion')}) does not "
                                              f"match the expected API version ({rt.api_version})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        namespace = self._namespace_for(rt, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        if not name:
            raise _invalid(rt, "", [FieldError("metadata.name", "FieldValueRequired",
                                               "Required value: name or generateName is required")])
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError",
                           "Internal error occurred: resourceVersion should not be set on objects to be created")
        if namespace:
            ns = self._objects[("", "namespaces")].get(("", namespace))
            if ns is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
            if ns["metadata"].get("deletionTimestamp"):
                raise ApiError(403, "Forbidden", f"{rt.plural} \"{name}\" is forbidden: unable to create new "
                                                 f"content in namespace {namespace} because it is being terminated")
        if (namespace or "", name) in self._objects[rt.storage_key]:
            raise ApiError(409, "AlreadyExists", f'{rt.group_resource} "{name}" already exists',
                           {"name": name, "group": rt.group, "kind": rt.plural})
        if rt.status_subresource and rt.custom:
            obj.pop("status", None)  # status is written through /status only
        for key in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(key, None)
        meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": _now()})
        if rt.custom or rt.plural == "customresourcedefinitions":
            meta["generation"] = 1
        self._prepare_builtin(rt, obj)
        warnings = self._admit(rt, obj, field_validation)
        if rt.plural == "customresourcedefinitions":
            self._check_crd(obj)
        if dry_run:
            return obj, warnings
        stored = self._commit(rt, obj, "ADDED")
        return self._render(rt, stored), warnings

    def replace(self, rt: ResourceType, namespace: str | None, name: str, body: dict[str, Any], *,
                subresource: str | None = None, field_validation: str = "Warn",
                dry_run: bool = False) -> tuple[dict[str, Any], list[str]]:
        old = self._stored(rt, namespace, name)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        rv = meta.get("resourceVersion")
        if not rv:
            raise _invalid(rt, name, [FieldError("metadata.resourceVersion", "FieldValueInvalid",
                                                 "Invalid value: 0x0: must be specified for an update")])
        if rv != old["metadata"]["resourceVersion"]:
            raise _conflict(rt, name)
        return self._update(rt, old, copy.deepcopy(body), subresource, field_validation, dry_run)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, patch: Any, patch_type: str, *,
              subresource: str | None = None, field_validation: str = "Warn", dry_run: bool = False,
              field_manager: str | None = None) -> tuple[dict[str, Any], list[str], bool]:
        """Apply a patch; returns (object, warnings, created) — server-side apply may create."""
        key = (namespace or "", name)
        if patch_type == "apply":
            if not field_manager:
                raise ApiError(400, "BadRequest", "PATCH, application/apply-patch+yaml requires fieldManager")
            if not isinstance(patch, dict):
                raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
            if key not in self._objects[rt.storage_key]:
                body = copy.deepcopy(patch)
                body.setdefault("metadata", {}).setdefault("name", name)
                obj, warnings = self.create(rt, namespace, body, field_validation=field_validation, dry_run=dry_run)
                return obj, warnings, True
        old = self._stored(rt, namespace, name)
        current = self._render(rt, old)
        try:
            if patch_type == "json":
                candidate = json_patch(current, patch)
            elif patch_type == "strategic":
                candidate = merge_patch(current, strip_strategic_directives(patch))
            else:  # merge, apply
                candidate = merge_patch(current, patch)
        except PatchError as exc:
            raise ApiError(exc.status, "Invalid" if exc.status == 422 else "BadRequest", str(exc)) from None
        if not isinstance(candidate, dict):
            raise ApiError(422, "Invalid", "the patch produced something that is not an object")
        rv = (candidate.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise _conflict(rt, name)
        candidate.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj, warnings = self._update(rt, old, candidate, subresource, field_validation, dry_run)
        return obj, warnings, False

    def delete(self, rt: ResourceType, namespace: str | None, name: str,
               options: dict[str, Any] | None = None, *, dry_run: bool = False) -> dict[str, Any]:
        old = self._stored(rt, namespace, name)
        preconditions = (options or {}).get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
            raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                                            f"UID in object meta: {old['metadata']['uid']}")
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old["metadata"][
                "resourceVersion"]:
            raise _conflict(rt, name)
        if dry_run:
            return self._render(rt, old)
        if rt.plural == "namespaces":
            return self._delete_namespace(rt, old)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return self._render(rt, old)
            obj = copy.deepcopy(old)
            obj["metadata"]["deletionTimestamp"] = _now()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._render(rt, self._commit(rt, obj, "MODIFIED"))
        return self._render(rt, self._commit(rt, copy.deepcopy(old), "DELETED"))

    def delete_collection(self, rt: ResourceType, namespace: str | None, labels: str | None,
                          fields: str | None) -> dict[str, Any]:
        listing = self.list_objects(rt, namespace, labels, fields)
        for item in listing["items"]:
            self.delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"])
        return listing

    # ------------------------------------------------------------------------------------ watch

    def subscribe(self, rt: ResourceType, namespace: str | None, labels: str | None, fields: str | None,
                  since: str | None, send_initial: bool = False) -> _Watcher:
        """A watcher whose queue already holds the events it must see first.

        `since` empty or "0": every current object as ADDED (what the real server does); a number: the
        events after it, from the log, or a 410 Expired error if the log no longer reaches back that far.
        """
        watcher = _Watcher(rt.storage_key, namespace, labels, fields)
        if send_initial or not since or since == "0":
            for obj in sorted(self._objects[rt.storage_key].values(),
                              key=lambda o: int(o["metadata"]["resourceVersion"])):
                if watcher.wants(rt.storage_key, obj):
                    watcher.queue.put_nowait(("ADDED", copy.deepcopy(obj)))
            if send_initial:
                watcher.queue.put_nowait(("BOOKMARK", {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": str(self._rv),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}))
        else:
            try:
                since_rv = int(since)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resource version: {since!r}") from None
            oldest = self._log[0][0] if self._log else self._rv + 1
            if self._log and len(self._log) == self._log.maxlen and since_rv < oldest - 1:
                watcher.queue.put_nowait(("ERROR", ApiError(
                    410, "Expired", f"too old resource version: {since_rv} ({oldest - 1})").status()))
                watcher.queue.put_nowait(None)
                return watcher
            for rv, key, event_type, obj in self._log:
                if rv > since_rv and watcher.wants(key, obj):
                    watcher.queue.put_nowait((event_type, copy.deepcopy(obj)))
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: _Watcher) -> None:
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)
        self._watchers.clear()

    # ------------------------------------------------------------------------------------ internals

    def _versions(self, rt: ResourceType) -> set[str]:
        return {t.api_version for t in self._types.values() if t.storage_key == rt.storage_key}

    def _namespace_for(self, rt: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str | None:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return None
        if namespace is None:
            namespace = meta.get("namespace") or "default"
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
        return namespace

    def _stored(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._objects[rt.storage_key].get((namespace or "", name))
        if obj is None:
            raise _not_found(rt, name)
        return obj

    def _update(self, rt: ResourceType, old: dict[str, Any], candidate: dict[str, Any],
                subresource: str | None, field_validation: str, dry_run: bool) -> tuple[dict[str, Any], list[str]]:
        name = old["metadata"]["name"]
        candidate["apiVersion"], candidate["kind"] = rt.api_version, rt.kind
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
        else:
            new = candidate
            meta = new.setdefault("metadata", {})
            for key in ("uid", "creationTimestamp", "name", "namespace", "generation", "deletionTimestamp",
                        "deletionGracePeriodSeconds"):
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
                else:
                    meta.pop(key, None)
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            if old["metadata"].get("deletionTimestamp"):
                added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise _invalid(rt, name, [FieldError("metadata.finalizers", "FieldValueForbidden",
                                                         "Forbidden: no new finalizers can be added if the "
                                                         "object is being deleted")])
            self._prepare_builtin(rt, new)
        warnings = self._admit(rt, new, field_validation)
        if rt.plural == "customresourcedefinitions":
            self._check_crd(new)
        if "generation" in old["metadata"] and self._spec_of(rt, new) != self._spec_of(rt, old):
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        if new == old or dry_run:
            return self._render(rt, new), warnings  # a no-op write keeps the resourceVersion
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._render(rt, self._commit(rt, new, "DELETED")), warnings
        return self._render(rt, self._commit(rt, new, "MODIFIED")), warnings

    @staticmethod
    def _spec_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """What `metadata.generation` tracks: everything but metadata (and status with the subresource)."""
        ignored = {"metadata", "status"} if rt.status_subresource else {"metadata"}
        return {k: v for k, v in obj.items() if k not in ignored}

    def _admit(self, rt: ResourceType, obj: dict[str, Any], field_validation: str) -> list[str]:
        """Prune unknown fields, default, validate — the order of the real API server."""
        name = obj.get("metadata", {}).get("name", "")
        errors: list[FieldError] = []
        pattern, text = (_DNS_LABEL, "RFC 1123 label") if rt.plural == "namespaces" else (
            _DNS_SUBDOMAIN, "RFC 1123 subdomain")
        if not isinstance(name, str) or not pattern.fullmatch(name) or len(name) > (
                63 if rt.plural == "namespaces" else 253):
            errors.append(FieldError("metadata.name", "FieldValueInvalid",
                                     f'Invalid value: "{name}": a lowercase {text} must consist of lower case '
                                     "alphanumeric characters, '-' or '.', and must start and end with an "
                                     "alphanumeric character"))
        errors += meta_errors(obj.get("metadata") or {}, namespace_scoped=rt.namespaced,
                              label_name=rt.plural == "namespaces")
        if rt.plural == "secrets":
            errors += secret_errors(obj)
        warnings: list[str] = []
        if rt.schema is not None:
            pruned, dropped = prune(obj, rt.schema)
            if dropped and field_validation == "Strict":
                unknown = ", ".join(f'unknown field "{path}"' for path in dropped)
                raise ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                                                  f"{rt.kind}: strict decoding error: {unknown}")
            if field_validation == "Warn":
                warnings = [f'unknown field "{path}"' for path in dropped]
            obj.clear()
            obj.update(pruned)
            apply_defaults(obj, rt.schema)
            errors += validate(obj, rt.schema)
        if errors:
            raise _invalid(rt, name, errors)
        return warnings

    @staticmethod
    def _prepare_builtin(rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.plural == "secrets" and (problem := secret_decode_error(obj)) is not None:
            raise ApiError(400, "BadRequest", f'Secret in version "v1" cannot be handled as a Secret: {problem}')
        if rt.plural == "secrets" and "stringData" in obj:
            data = obj.setdefault("data", {}) or {}
            for key, value in (obj.pop("stringData") or {}).items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        if rt.plural == "secrets":
            obj.setdefault("type", "Opaque")
        if rt.plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})

    def _commit(self, rt: ResourceType, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store (or drop, for DELETED) with the next resourceVersion; tell the watchers."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
        bucket = self._objects[rt.storage_key]
        if event_type == "DELETED":
            bucket.pop(key, None)
        else:
            bucket[key] = obj
        snapshot = copy.deepcopy(obj)
        self._log.append((self._rv, rt.storage_key, event_type, snapshot))
        for watcher in list(self._watchers):
            if watcher.wants(rt.storage_key, snapshot):
                watcher.queue.put_nowait((event_type, snapshot))
        if rt.plural == "customresourcedefinitions":
            self._sync_crd(obj, removed=event_type == "DELETED")
        if event_type == "DELETED" and rt.namespaced:
            self._reap_namespace(key[0])
        return obj

    # ------------------------------------------------------------------------------------ namespaces

    def _delete_namespace(self, rt: ResourceType, old: dict[str, Any]) -> dict[str, Any]:
        name = old["metadata"]["name"]
        if not old["metadata"].get("deletionTimestamp"):
            obj = copy.deepcopy(old)
            obj["metadata"]["deletionTimestamp"] = _now()
            obj["status"] = {"phase": "Terminating"}
            self._commit(rt, obj, "MODIFIED")
            by_storage = {other.storage_key: other for other in self._types.values() if other.namespaced}
            for other in by_storage.values():
                for ns, obj_name in list(self._objects[other.storage_key]):
                    if ns == name and (ns, obj_name) in self._objects[other.storage_key]:
                        self.delete(other, ns, obj_name)
        self._reap_namespace(name)
        current = self._objects[rt.storage_key].get(("", name), old)
        return self._render(rt, current)

    def _reap_namespace(self, name: str) -> None:
        ns = self._objects[("", "namespaces")].get(("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for (_group, plural), bucket in self._objects.items():
            if plural != "namespaces" and any(key[0] == name for key in bucket):
                return
        self._commit(self.find("v1", "Namespace"), copy.deepcopy(ns), "DELETED")

    # ------------------------------------------------------------------------------------ CRDs

    def _check_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        rt = self.find("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        errors: list[FieldError] = []
        for path, value in (("spec.group", spec.get("group")), ("spec.names.plural", names.get("plural")),
                            ("spec.names.kind", names.get("kind"))):
            if not value:
                errors.append(FieldError(path, "FieldValueRequired", "Required value"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errors.append(FieldError("spec.scope", "FieldValueNotSupported",
                                     f'Unsupported value: {json.dumps(spec.get("scope"))}: supported values: '
                                     '"Cluster", "Namespaced"'))
        versions = spec.get("versions") or []
        if not versions:
            errors.append(FieldError("spec.versions", "FieldValueInvalid", "Invalid value: null: must have "
                                                                           "exactly one version marked as storage version"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            errors.append(FieldError("spec.versions", "FieldValueInvalid",
                                     "Invalid value: must have exactly one version marked as storage version"))
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if crd["metadata"]["name"] != expected:
            errors.append(FieldError("metadata.name", "FieldValueInvalid",
                                     f'Invalid value: "{crd["metadata"]["name"]}": must be spec.names.plural+"."'
                                     "+spec.group"))
        if errors:
            raise _invalid(rt, crd["metadata"]["name"], errors)
        crd["status"] = {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": _now()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": _now()},
            ],
            "acceptedNames": names,
            "storedVersions": [v["name"] for v in versions if v.get("storage")],
        }

    def _sync_crd(self, crd: dict[str, Any], *, removed: bool) -> None:
        spec = crd["spec"]
        group, names = spec["group"], spec["names"]
        for key in [k for k, rt in self._types.items() if rt.custom and rt.storage_key == (group, names["plural"])]:
            del self._types[key]
        if removed:
            bucket = self._objects.pop((group, names["plural"]), {})
            rt = ResourceType(group, spec["versions"][0]["name"], names["plural"], "", names["kind"], True)
            for obj in bucket.values():
                self._rv += 1
                obj["metadata"]["resourceVersion"] = str(self._rv)
                self._log.append((self._rv, rt.storage_key, "DELETED", obj))
                for watcher in list(self._watchers):
                    if watcher.wants(rt.storage_key, obj):
                        watcher.queue.put_nowait(("DELETED", obj))
            return
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            self._types[(group, version["name"], names["plural"])] = ResourceType(
                group=group, version=version["name"], plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(), kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced", short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                schema=schema, printer_columns=list(version.get("additionalPrinterColumns") or []), custom=True)

    # ------------------------------------------------------------------------------------ tables

    def table(self, rt: ResourceType, objects: list[dict[str, Any]], include: str,
              resource_version: str | None = None) -> dict[str, Any]:
        """The `meta.k8s.io/v1 Table` `kubectl get` asks for: Name + printer columns (or Age)."""
        columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}]
        printer = rt.printer_columns or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        for column in printer:
            columns.append({"name": column["name"], "type": column.get("type", "string"),
                            "format": column.get("format", ""), "priority": column.get("priority", 0),
                            "description": column.get("description", "")})
        rows = []
        for obj in objects:
            cells: list[Any] = [obj["metadata"]["name"]]
            for column in printer:
                values = jsonpath_values(obj, column["jsonPath"])
                if not values:
                    cells.append(None)
                elif column.get("type") == "date":
                    cells.append(_age(str(values[0])))
                elif len(values) == 1:
                    cells.append(values[0] if not isinstance(values[0], dict | list) else json.dumps(values[0]))
                else:
                    cells.append(",".join(str(v) for v in values))
            row: dict[str, Any] = {"cells": cells}
            if include == "Object":
                row["object"] = obj
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": obj["metadata"]}
            rows.append(row)
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"resourceVersion": resource_version or str(self._rv)},
                "columnDefinitions": columns, "rows": rows}


# ================================================================================================ HTTP

def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    return web.Response(body=json.dumps(body).encode(), status=status, content_type="application/json",
                        headers=headers)


class _Http:
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
            return self._openapi(parts[2:])
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
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
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
                return _json(self.api.table(rt, listing["items"], query.get("includeObject", "Metadata"),
                                            listing["metadata"]["resourceVersion"]))
            return _json(listing)
        if method == "GET":
            assert name is not None
            obj = self.api.get(rt, namespace, name)
            if _wants_table(request):
                return _json(self.api.table(rt, [obj], query.get("includeObject", "Metadata")))
            return _json(obj)
        if method == "POST" and name is None:
            obj, warnings = self.api.create(rt, namespace, await self._body(request),
                                            field_validation=field_validation, dry_run=dry_run)
            return _json(obj, 201, warnings)
        if method == "PUT" and name is not None:
            obj, warnings = self.api.replace(rt, namespace, name, await self._body(request),
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
                rt, namespace, name, await self._body(request), patch_type, subresource=subresource,
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
    async def _body(request: web.Request, required: bool = True) -> Any:
        try:
            raw = await read_limited(request)
        except BodyTooLarge:
            raise ApiError(413, "RequestEntityTooLarge",
                           f"Request entity too large: limit is {MAX_REQUEST_BYTES}") from None
        if not raw.strip():
            if required:
                raise ApiError(400, "BadRequest", "the body of the request was empty")
            return None
        try:
            if "yaml" in request.headers.get("Content-Type", ""):
                return load_yaml(raw)
            return load_json(raw)
        except (ValueError, yaml.YAMLError) as exc:
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
                    obj = self.api._render(rt, obj)
                    if table:
                        obj = self.api.table(rt, [obj], query.get("includeObject", "Metadata"),
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
                              "kind": rt.kind, "verbs": _VERBS, "shortNames": list(rt.short_names),
                              "categories": list(rt.categories)})
            if rt.status_subresource:
                resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": rt.kind, "verbs": ["get", "patch", "update"]})
        return _json({"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": f"{group}/{version}" if group else version, "resources": resources})

    # ------------------------------------------------------------------------------------ OpenAPI v3

    def _openapi_documents(self) -> dict[str, dict[str, Any]]:
        """One small OpenAPI document per group-version: the operations kubectl inspects, and schemas."""
        documents: dict[str, dict[str, Any]] = {}
        for rt in self.api.types():
            key = f"apis/{rt.group}/{rt.version}" if rt.group else "api/v1"
            document = documents.setdefault(key, {"openapi": "3.0.0", "info": {"title": "Kubernetes",
                                                                                "version": self.version["gitVersion"]},
                                                  "paths": {}, "components": {"schemas": {}}})
            gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
            definition = ".".join(["io", *reversed(rt.group.split("."))] if rt.group else ["io", "k8s", "api", "core"])
            definition = f"{definition}.{rt.version}.{rt.kind}"
            schema = copy.deepcopy(rt.schema) if rt.schema else {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}
            schema["x-kubernetes-group-version-kind"] = [gvk]
            document["components"]["schemas"][definition] = schema
            prefix = f"/{key}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"/{key}/{rt.plural}"
            ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{definition}"}}}}
            validation = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
                           "description": "fieldValidation instructs the server on how to handle objects in the "
                                          "request containing unknown or duplicate fields."}]

            def operation(action: str, params: list[dict[str, Any]]) -> dict[str, Any]:
                return {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,  # noqa: B023
                        "parameters": params, "responses": {"200": {"description": "OK", **ref}}}  # noqa: B023

            document["paths"][prefix] = {"get": operation("list", []), "post": operation("post", validation)}
            document["paths"][f"{prefix}/{{name}}"] = {
                "get": operation("get", []), "put": operation("put", validation),
                "patch": operation("patch", validation), "delete": operation("delete", [])}
        return documents

    def _openapi(self, rest: list[str]) -> web.Response:
        documents = self._openapi_documents()
        if not rest:
            return _json({"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash="
                                          + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()}
                                    for key, doc in documents.items()}})
        document = documents.get("/".join(rest))
        if document is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(document)


class KubeEmulator:
    """The emulated API server on `http://127.0.0.1:PORT`, in a thread of its own.

    ```python
    with KubeEmulator() as kube:
        kube.write_kubeconfig(path)          # for kubectl and the kubernetes client
        kube.url                             # for kopf.ConnectionInfo(server=...)
        kube.create({...}); kube.get("v1", "Secret", "name", "default")
    ```
    The in-process helpers run on the emulator's loop, with exactly the HTTP API's semantics.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.api: KubeApi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> KubeEmulator:
        self._thread = threading.Thread(target=self._serve, name="kube-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("the Kubernetes emulator did not start") from self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._loop = self._thread = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
            self._loop = loop
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        self.api = KubeApi()
        http = _Http(self.api, {"major": "1", "minor": "35", "gitVersion": "v1.35.0-transit-sandbox",
                                "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                                "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"})
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", http.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self.api is not None:
            self.api.close_watchers()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------------------------ admin

    def call(self, fn: Callable[[KubeApi], _T]) -> _T:
        """Run `fn(api)` on the emulator's loop and return its result (ApiError propagates)."""
        if self._loop is None or self.api is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        api = self.api

        async def run() -> _T:
            return fn(api)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        def create(api: KubeApi) -> dict[str, Any]:
            rt = api.find(obj.get("apiVersion", ""), obj.get("kind", ""))
            return api.create(rt, obj.get("metadata", {}).get("namespace"), obj)[0]
        return self.call(create)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create, or merge-patch an existing object with `obj` (like a simple `kubectl apply`)."""
        def apply(api: KubeApi) -> dict[str, Any]:
            rt = api.find(obj.get("apiVersion", ""), obj.get("kind", ""))
            meta = obj.get("metadata", {})
            namespace = (meta.get("namespace") or "default") if rt.namespaced else None
            return api.patch(rt, namespace, meta.get("name", ""), obj, "apply", field_manager="sandbox")[0]
        return self.call(apply)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        def get(api: KubeApi) -> dict[str, Any] | None:
            rt = api.find(api_version, kind)
            try:
                return api.get(rt, namespace if rt.namespaced else None, name)
            except ApiError as exc:
                if exc.code == 404:
                    return None
                raise
        return self.call(get)

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        def list_(api: KubeApi) -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = api.list_objects(api.find(api_version, kind), namespace)["items"]
            return items
        return self.call(list_)

    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """A kubeconfig whose current context is this emulator (token auth, not checked)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "transit-sandbox", "preferences": {},
            "clusters": [{"name": "transit-sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "transit-sandbox", "user": {"token": "transit-sandbox"}}],
            "contexts": [{"name": "transit-sandbox", "context": {"cluster": "transit-sandbox",
                                                                 "user": "transit-sandbox",
                                                                 "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

"""The API server's semantics over an in-memory store: types served, objects, resourceVersions, watch
events, admission (prune, default, validate against the CRD schema), finalizers, namespaces and CRDs.
No I/O: `transit_sandbox.kube.http` serves it over HTTP."""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from transit_sandbox.kube.patch import (
    PatchError,
    field_selector_matches,
    json_patch,
    label_selector_matches,
    strip_strategic_directives,
)
from transit_sandbox.kube.schema import FieldError, apply_defaults, prune, validate
from transit_sandbox.kube.validation import meta_errors, secret_decode_error, secret_errors
from transit_sandbox.merge_patch import merge_patch

_WATCH_LOG_SIZE = 20000
# metadata.generateName as the real server does it (k8s.io/apiserver/pkg/storage/names: the base cut to 58
# characters, then 5 random ones of k8s.io/apimachinery/pkg/util/rand's alphabet, no vowels), and on a name
# that exists a new one, up to 8 attempts in all (RetryGenerateName, on by default since 1.31). kopf names
# every Event it posts this way: with 5 hex digits and no retry, 1 in 1,000 Events at 1,000 objects was
# refused "already exists".
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED_BASE_MAX = 63 - 5
_GENERATE_NAME_ATTEMPTS = 8


def generated_name(base: str) -> str:
    return base[:_GENERATED_BASE_MAX] + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
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


def _details(rt: ResourceType, name: str, kind: str, **more: Any) -> dict[str, Any]:
    """A Status's `details`: the core group is left out, as the real server's JSON omits an empty group."""
    details: dict[str, Any] = {"name": name, "group": rt.group, "kind": kind, **more}
    if not rt.group:
        del details["group"]
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.group_resource} "{name}" not found', _details(rt, name, rt.plural))


def _conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rt.group_resource} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    _details(rt, name, rt.plural))


def _invalid(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    text = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(422, "Invalid", f'{rt.group_kind} "{name}" is invalid: {text}',
                    _details(rt, name, rt.kind, causes=[{"reason": e.reason, "message": e.detail, "field": e.field}
                                                        for e in errors]))


def _regex_error(message: str, regex: str, *examples: str) -> str:
    """apimachinery's `validation.RegexError`: the message, examples and the regex, in its words."""
    shown = "".join(("" if i == 0 else " or ") + f"'{example}', " for i, example in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{regex}')"


# apimachinery pkg/util/validation: the messages and formats of IsDNS1123Label / IsDNS1123Subdomain.
_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FORMAT = _LABEL_FORMAT + "(\\." + _LABEL_FORMAT + ")*"
_LABEL_MESSAGE = _regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
                              "'-', and must start and end with an alphanumeric character", _LABEL_FORMAT,
                              "my-name", "123-abc")
def _name_errors(name: str, *, label: bool) -> list[str]:
    """apimachinery's IsDNS1123Label (namespaces) or IsDNS1123Subdomain (most other names), message for message."""
    limit = 63 if label else 253
    errors = [f"must be no more than {limit} characters"] if len(name) > limit else []
    if label and not _DNS_LABEL.fullmatch(name):
        errors.append("must not contain dots" if _DNS_SUBDOMAIN.fullmatch(name) else _LABEL_MESSAGE)
    elif not label and not _DNS_SUBDOMAIN.fullmatch(name):
        errors.append(_SUBDOMAIN_MESSAGE)
    return errors


_SUBDOMAIN_MESSAGE = _regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                  "characters, '-' or '.', and must start and end with an alphanumeric character",
                                  _SUBDOMAIN_FORMAT, "example.com")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")



def _builtin_types() -> list[ResourceType]:
    return [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), status_subresource=True),
        ResourceType("", "v1", "secrets", "secret", "Secret", True),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
        ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                     "CustomResourceDefinition", False, ("crd", "crds"), status_subresource=True),
    ]


class Watcher:
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
        self._watchers: set[Watcher] = set()
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
            raise not_found(rt, name)
        return self.render(rt, obj)

    def list_objects(self, rt: ResourceType, namespace: str | None, labels: str | None = None,
             fields: str | None = None) -> dict[str, Any]:
        items = [self.render(rt, obj) for (ns, _), obj in sorted(self._objects[rt.storage_key].items())
                 if (namespace is None or ns == namespace)
                 and label_selector_matches(labels, obj["metadata"].get("labels"))
                 and field_selector_matches(fields, obj)]
        if not rt.custom:  # typed lists carry the kind once, on the list (custom resources: on every item)
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def render(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
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
            for _ in range(_GENERATE_NAME_ATTEMPTS):
                meta["name"] = generated_name(meta["generateName"])
                if (namespace or "", meta["name"]) not in self._objects[rt.storage_key]:
                    break
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
                           _details(rt, name, rt.plural))
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
        return self.render(rt, stored), warnings

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
        current = self.render(rt, old)
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
            return self.render(rt, old)
        if rt.plural == "namespaces":
            return self._delete_namespace(rt, old)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return self.render(rt, old)
            obj = copy.deepcopy(old)
            obj["metadata"]["deletionTimestamp"] = _now()
            obj["metadata"]["deletionGracePeriodSeconds"] = 0
            return self.render(rt, self._commit(rt, obj, "MODIFIED"))
        return self.render(rt, self._commit(rt, copy.deepcopy(old), "DELETED"))

    def delete_collection(self, rt: ResourceType, namespace: str | None, labels: str | None,
                          fields: str | None) -> dict[str, Any]:
        listing = self.list_objects(rt, namespace, labels, fields)
        for item in listing["items"]:
            self.delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"])
        return listing

    # ------------------------------------------------------------------------------------ watch

    def subscribe(self, rt: ResourceType, namespace: str | None, labels: str | None, fields: str | None,
                  since: str | None, send_initial: bool = False) -> Watcher:
        """A watcher whose queue already holds the events it must see first.

        `since` empty or "0": every current object as ADDED (what the real server does); a number: the
        events after it, from the log, or a 410 Expired error if the log no longer reaches back that far.
        """
        watcher = Watcher(rt.storage_key, namespace, labels, fields)
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

    def unsubscribe(self, watcher: Watcher) -> None:
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
            raise not_found(rt, name)
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
            return self.render(rt, new), warnings  # a no-op write keeps the resourceVersion
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self.render(rt, self._commit(rt, new, "DELETED")), warnings
        return self.render(rt, self._commit(rt, new, "MODIFIED")), warnings

    @staticmethod
    def _spec_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """What `metadata.generation` tracks: everything but metadata (and status with the subresource)."""
        ignored = {"metadata", "status"} if rt.status_subresource else {"metadata"}
        return {k: v for k, v in obj.items() if k not in ignored}

    def _admit(self, rt: ResourceType, obj: dict[str, Any], field_validation: str) -> list[str]:
        """Prune unknown fields, default, validate — the order of the real API server."""
        name = obj.get("metadata", {}).get("name", "")
        errors: list[FieldError] = []
        label = rt.plural == "namespaces"
        for message in (_name_errors(name, label=label) if isinstance(name, str)
                        else [_LABEL_MESSAGE if label else _SUBDOMAIN_MESSAGE]):
            errors.append(FieldError("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {message}'))
        errors += meta_errors(obj.get("metadata") or {}, namespace_scoped=rt.namespaced, label_name=label)
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
        if rt.plural == "events":  # core/v1 Event's fields without omitempty: the server returns them empty
            for key in ("eventTime", "firstTimestamp", "lastTimestamp"):
                obj.setdefault(key, None)
            obj.setdefault("reportingComponent", "")
            obj.setdefault("reportingInstance", "")
            obj.setdefault("source", {})

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
        return self.render(rt, current)

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
        errors += self._check_metadata_schemas(versions)
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

    @staticmethod
    def _check_metadata_schemas(versions: list[dict[str, Any]]) -> list[FieldError]:
        """A structural schema may restrict `metadata.name` and `metadata.generateName` only; anything else
        about `metadata` (even a description) is refused. The real server reports one schema shared by all
        versions under its internal `spec.validation`, per-version ones under `spec.versions[i].schema`."""
        schemas = [(v.get("schema") or {}).get("openAPIV3Schema") for v in versions]
        shared = len({json.dumps(s, sort_keys=True) for s in schemas}) == 1
        errors = []
        for index, schema in enumerate(schemas[:1] if shared else schemas):
            metadata = ((schema or {}).get("properties") or {}).get("metadata")
            if metadata is None:
                continue
            extra = set(metadata) - {"type", "properties"}
            extra |= set(metadata.get("properties") or {}) - {"name", "generateName"}
            if extra or metadata.get("type", "object") != "object":
                prefix = "spec.validation" if shared else f"spec.versions[{index}].schema"
                errors.append(FieldError(f"{prefix}.openAPIV3Schema.properties[metadata]", "FieldValueForbidden",
                                         "Forbidden: must not specify anything other than name and generateName, "
                                         "but metadata is implicitly specified"))
        return errors

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

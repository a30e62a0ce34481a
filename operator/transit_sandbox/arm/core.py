"""The emulated Azure Resource Manager: resource store, generic PUT/PATCH/GET/DELETE/list, LROs, errors.

Concepts
- A resource is stored as the REST JSON document Azure would return (`id`, `name`, `type`, `location`,
  `tags`, `etag`, `properties`, ...), keyed by its lower-cased id: ARM ids are case-insensitive, but a
  resource keeps the casing it was first PUT with. Keys starting with `_` are emulator-internal and never
  leave the server.
- A `Kind` describes one resource type: the api-versions its provider serves, which `properties` are
  computed by the server (dropped from a PUT body, which otherwise replaces the resource entirely, as in
  Azure), which inline child collections it has (`subnets`, `frontendIPConfigurations`, ...: each item gets
  its id `<parent>/<collection>/<name>`), and hooks: `validate` (platform rules, computed fields),
  `after_write`, `check_delete`, `after_delete`, `decorate` (views computed on read, e.g. a backend pool's
  NICs), and POST `actions`. Provider modules (`network.py`, `compute.py`, `privatedns.py`) subclass it.
- `EmbeddedKind` serves an inline child as its own REST resource (`virtualNetworks/x/subnets/y`): a PUT
  rewrites the parent and validates it whole, like Azure does.
- Writes are long-running operations (LROs) unless the kind says otherwise: the response carries
  `Azure-AsyncOperation` (a status document) and `Location` (the final result), `provisioningState` is
  `Updating`/`Creating`/`Deleting` until the operation's duration has passed. Operations complete lazily:
  `Arm.tick()` runs at the start of every request and every admin or broker call, so there are no timers.
- LRO responses (the initial 201/202/200 and every status poll still in progress) carry `Retry-After`
  (`Arm.retry_after_seconds`; Azure sends about 10 s, the default here is 0 so clients fall back to their
  own polling interval and tests stay fast; `Admin.set_retry_after` changes it).
- Microsoft.Network serializes writes per resource: a PUT/DELETE on a resource (or an inline child of it)
  whose own LRO is still `Updating` answers 429 `RetryableErrorDueToAnotherOperation` with `Retry-After`
  (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling:
  "the network resource provider returns 429 with the RetryableErrorDueToAnotherOperation error code when
  the target resource is locked by another operation"). Kinds opt in with `serialize_writes`.
- Work that must not run under the store lock (an executor booting an instance) runs in a pool; a write
  registers its futures with `Arm.defer(resource_id, future)` and its LRO completes only once they are done.
- References (`{"id": ...}` objects inside `properties`) must resolve, or the PUT fails with Azure's
  `InvalidResourceReference`; a resource (or inline child) still referenced by another one cannot be
  deleted (`InUseSubnetCannotBeDeleted`, ...).

Error codes are Azure's own where known; codes this emulator had to invent are marked INVENTED where used.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..executor import InstanceExecutor, RecordingExecutor
from ..merge_patch import merge_patch  # what ARM PATCH does: objects merge, lists are replaced

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# api-versions each provider serves for the types emulated here. The SDK versions in use are the newest;
# older real ones are accepted so a hand-written client on an older version also works. An api-version
# Azure does not know for a type is refused with `NoRegisteredProviderFound`.
NETWORK_API_VERSIONS = frozenset(
    {"2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01",
     "2025-01-01", "2025-03-01", "2025-05-01", "2026-03-01"}
)
# The VMSS NIC views of Microsoft.Network are only served on old api-versions (the SDK pins 2018-10-01).
VMSS_NIC_API_VERSIONS = frozenset({"2017-03-30", "2018-10-01"})
COMPUTE_API_VERSIONS = frozenset(
    {"2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", "2026-04-01"}
)
PRIVATE_DNS_API_VERSIONS = frozenset({"2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01"})


# The timings a fresh sandbox cloud starts with (`Admin.reset` returns to them): fast, for tests.
DEFAULT_LRO_SECONDS = 0.05
CONFLUENT_APPROVAL_SECONDS = 0.2



class TypedStore(dict[str, dict[str, Any]]):
    """The resources by lower-cased id, with the ids of each (lower-cased) type kept aside, so that a
    read that looks at one type (`Arm.of_type`) does not walk every resource: with thousands of resources
    (bench/scale.py at 1,000 objects) such walks made every GET cost O(resources). A key's type never
    changes (it is part of the id), so only keys coming and going touch the index."""

    def __init__(self) -> None:
        super().__init__()
        self._by_type: dict[str, dict[str, None]] = {}

    def __setitem__(self, key: str, doc: dict[str, Any]) -> None:
        if key not in self:
            self._by_type.setdefault(doc["type"].lower(), {})[key] = None
        super().__setitem__(key, doc)

    def __delitem__(self, key: str) -> None:
        self._forget(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            self._forget(key)
        return super().pop(key, *default)

    def _forget(self, key: str) -> None:
        self._by_type.get(self[key]["type"].lower(), {}).pop(key, None)

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [self[key] for key in self._by_type.get(type_.lower(), {})]

    # the dict methods that would bypass the index are not used on the store
    def clear(self) -> None:
        raise NotImplementedError

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def setdefault(self, *args: Any) -> Any:
        raise NotImplementedError

    def popitem(self) -> Any:
        raise NotImplementedError

class ArmError(Exception):
    """An ARM error response: `{"error": {"code", "message", ...}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 details: list[dict[str, str]] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# --- ids ------------------------------------------------------------------------------------------------


def lower(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


@dataclass(frozen=True)
class ResourceId:
    """`/subscriptions/S/resourceGroups/G/providers/NS/t1/n1[/t2/n2...]`."""

    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def parse(cls, resource_id: str) -> ResourceId | None:
        segs = [s for s in resource_id.split("/") if s]
        if (
            len(segs) < 8
            or segs[0].lower() != "subscriptions"
            or segs[2].lower() != "resourcegroups"
            or segs[4].lower() != "providers"
            or len(segs[6:]) % 2
        ):
            return None
        tail = segs[6:]
        return cls(segs[1], segs[3], segs[5], tuple(tail[0::2]), tuple(tail[1::2]))

    @property
    def type(self) -> str:
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def parent(self) -> str | None:
        if len(self.types) == 1:
            return None
        return self.prefix_id(len(self.types) - 1)

    def prefix_id(self, depth: int) -> str:
        pairs = "/".join(f"{t}/{n}" for t, n in zip(self.types[:depth], self.names[:depth], strict=True))
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.namespace}/{pairs}"
        )


def short_type(type_: str) -> str:
    """`Microsoft.Network/privateEndpoints` -> `privateEndpoints` (as Azure's messages name types)."""
    return type_.split("/", 1)[1] if "/" in type_ else type_


def not_found(resource_id: str, type_: str) -> ArmError:
    rid = ResourceId.parse(resource_id)
    rg = rid.resource_group if rid else "?"
    name = "/".join(rid.names) if rid else resource_id
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{type_.split('/')[0]}/{'/'.join(type_.split('/')[1:])}/{name}' under resource group "
        f"'{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def utcnow() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def refs_in(value: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every reference object (`{"id": ...}` and nothing else) inside a JSON value, with its id."""
    if isinstance(value, dict):
        if set(value) == {"id"} and isinstance(value["id"], str):
            yield value, value["id"]
            return
        for item in value.values():
            yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def strip_key(value: Any, key: str) -> None:
    if isinstance(value, dict):
        value.pop(key, None)
        for item in value.values():
            strip_key(item, key)
    elif isinstance(value, list):
        for item in value:
            strip_key(item, key)


def public(value: Any) -> Any:
    """A deep copy without emulator-internal `_keys`."""
    if isinstance(value, dict):
        return {k: public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value


def find_named(items: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
    for item in items or []:
        if str(item.get("name", "")).lower() == name.lower():
            return item
    return None


# --- kinds ----------------------------------------------------------------------------------------------


class Kind:
    """One resource type. Subclasses override the class attributes and the hooks."""

    type: str = ""
    api_versions: frozenset[str] = NETWORK_API_VERSIONS
    lro: bool = True
    requires_location: bool = True
    top_level_keys: tuple[str, ...] = ("location", "tags", "sku", "zones", "identity", "extendedLocation", "plan")
    # properties computed by the server; dropped from request bodies (recursive `provisioningState` too)
    read_only: tuple[str, ...] = ()
    # inline child collections in `properties`, and read-only properties of their items
    collections: dict[str, tuple[str, ...]] = {}
    has_resource_guid: bool = False
    # `properties.provisioningState` is declared by the type's spec (private DNS record sets have none)
    has_provisioning_state: bool = True
    has_etag: bool = True  # the type's spec declares `etag` (managed run commands have none)
    creating_state: str = "Updating"  # Microsoft.Network reports Updating while creating
    in_use_code: str = "InUseResourceCannotBeDeleted"  # INVENTED default; real per-kind codes below
    managed_message: str | None = None  # set on platform-managed (read-only) kinds
    # Microsoft.Network: a write while this resource's own LRO is in flight is refused with 429
    serialize_writes: bool = False
    actions: dict[str, Callable[..., Response]] = {}

    # hooks ----------------------------------------------------------------------------------------------
    def validate(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Platform rules and computed fields; raise ArmError to refuse the write."""

    def after_write(self, arm: Arm, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Side effects of an accepted write (platform-created NICs, instances, ...)."""

    def check_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        arm.refuse_if_referenced(doc, self.cascade(arm, doc), self.in_use_code)

    def cascade(self, arm: Arm, doc: dict[str, Any]) -> list[str]:
        """Ids of resources removed together with this one (their references don't block the delete)."""
        return []

    def start_delete(self, arm: Arm, doc: dict[str, Any]) -> Future[Any] | None:
        """Work that starts with the DELETE request (outside the store lock); the LRO waits for it."""
        return None

    def after_delete(self, arm: Arm, doc: dict[str, Any]) -> None:
        """Runs when the delete completes, before the cascaded resources are removed."""

    def decorate(self, arm: Arm, view: dict[str, Any]) -> None:
        """Add read-time views to the public copy of a resource."""

    # generic behaviour ----------------------------------------------------------------------------------
    def build(self, arm: Arm, rid: str, body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """The stored document for a PUT: full replacement, minus read-only fields, plus computed ids."""
        if not isinstance(body, dict):
            raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
        parsed = ResourceId.parse(rid)
        assert parsed is not None
        doc: dict[str, Any] = {
            "id": old["id"] if old else rid,
            "name": old["name"] if old else parsed.name,
            "type": self.type,
        }
        for key in self.top_level_keys:
            if body.get(key) is not None:
                doc[key] = copy.deepcopy(body[key])
        if "location" in doc:
            doc["location"] = str(doc["location"]).replace(" ", "").lower()
        if old and "location" in old and doc.get("location", old["location"]) != old["location"]:
            raise bad_request(
                "InvalidResourceLocation",
                f"The resource '{parsed.name}' already exists in location '{old['location']}'. A resource "
                f"with the same name cannot be created in location '{doc['location']}'.",
            )
        if self.requires_location and not doc.get("location"):
            raise bad_request("LocationRequired", "The location property is required for this definition.")
        props = copy.deepcopy(body.get("properties") or {})
        if not isinstance(props, dict):
            raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
        strip_key(props, "provisioningState")
        for key in (*self.read_only, "resourceGuid"):
            props.pop(key, None)
        base_id = doc["id"]
        for coll, item_read_only in self.collections.items():
            items = props.get(coll)
            if items is None:
                continue
            seen: set[str] = set()
            for item in items:
                name = item.get("name")
                if not name:
                    raise bad_request("InvalidRequestFormat", f"Cannot parse the request: {coll} item without name.")
                if name.lower() in seen:
                    raise bad_request(
                        "DuplicateResourceName",
                        f"Resource {base_id} has two child resources with the same name ({name}).",
                    )
                seen.add(name.lower())
                item["id"] = f"{base_id}/{coll}/{name}"
                item.pop("etag", None)
                item["type"] = f"{self.type}/{coll}"
                item_props = item.setdefault("properties", {})
                for key in item_read_only:
                    item_props.pop(key, None)
        doc["properties"] = props
        if old:
            for key, value in old.items():
                if key.startswith("_"):
                    doc[key] = copy.deepcopy(value)
        if self.has_resource_guid:
            props["resourceGuid"] = (old or {}).get("properties", {}).get("resourceGuid") or str(uuid.uuid4())
        return doc

    def view(self, arm: Arm, doc: dict[str, Any]) -> dict[str, Any]:
        out = public(doc)
        state = out.get("properties", {}).get("provisioningState")
        for coll in self.collections:
            for item in out.get("properties", {}).get(coll) or []:
                if state:
                    item.setdefault("properties", {})["provisioningState"] = state
                if "etag" in out:
                    item["etag"] = out["etag"]
        self.decorate(arm, out)
        return out

    # REST verbs -----------------------------------------------------------------------------------------
    def get(self, arm: Arm, rid: str) -> Response:
        doc = arm.resources.get(lower(rid))
        if doc is None:
            raise not_found(rid, self.type)
        return Response(200, self.view(arm, doc))

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        prefix = lower(scope) + "/"
        depth = len(self.type.split("/")) - 1
        out = []
        for doc in arm.of_type(self.type):
            if not lower(doc["id"]).startswith(prefix):
                continue
            parsed = ResourceId.parse(doc["id"])
            if parsed and len(parsed.types) == depth:
                out.append(self.view(arm, doc))
        return out

    def write(
        self, arm: Arm, rid: str, body: dict[str, Any], headers: dict[str, str], patch: bool = False
    ) -> tuple[bool, dict[str, Any]]:
        """Validate and store a PUT (or PATCH) body; returns (created, stored document)."""
        if self.managed_message:
            raise bad_request("OperationNotAllowed", self.managed_message)
        key = lower(rid)
        old = arm.resources.get(key)
        arm.check_parent(rid)
        check_preconditions(old, headers, rid, self.type)
        if old is not None and old.get("properties", {}).get("provisioningState") == "Deleting":
            raise ArmError(
                409, "AnotherOperationInProgress", f"Another operation on this or dependent resource is in progress."
                f" To retry later, please check the status of the resource {rid}.",
            )
        arm.refuse_if_locked(self, old, "PUT")
        if patch:
            if old is None:
                raise not_found(rid, self.type)
            body = merge_patch(public(old), body)
        doc = self.build(arm, rid, body, old)
        arm.check_references(doc)
        arm.check_removed_children(self, old, doc)
        self.validate(arm, doc, old)
        if self.has_etag:
            doc["etag"] = new_etag()
        if self.has_provisioning_state:
            state = "Succeeded" if not self.lro else (self.creating_state if old is None else "Updating")
            doc["properties"]["provisioningState"] = state
        arm.resources[key] = doc
        self.after_write(arm, doc, old)
        return old is None, doc

    def put(self, arm: Arm, rid: str, body: Any, headers: dict[str, str], patch: bool = False) -> Response:
        created, doc = self.write(arm, rid, body, headers, patch)
        status = 201 if created and not patch else 200
        if not self.lro:
            return Response(status, self.view(arm, doc))
        futures = arm.take_deferred(doc["id"])
        op = arm.start_operation(doc["id"], self.type, "put", doc.get("location"),
                                 finish=(lambda: raise_failures(futures)) if futures else None,
                                 future=all_of(futures))
        return Response(status, self.view(arm, doc), arm.lro_headers(op))

    def patch_tags(self, arm: Arm, rid: str, body: Any, headers: dict[str, str]) -> Response:
        """Network's `update_tags` (PATCH with a `TagsObject`): the tags alone, synchronously (200); the
        configuration, `provisioningState` and the data path are untouched. The given tags replace the old
        set (UNCONFIRMED: the spec does not say replace or merge; a merge could never remove a tag, since
        TagsObject values are strings, not null)."""
        doc = arm.resources.get(lower(rid))
        if doc is None:
            raise not_found(rid, self.type)
        check_preconditions(doc, headers, rid, self.type)
        arm.refuse_if_locked(self, doc, "PATCH")
        tags = (body or {}).get("tags")
        if tags is None:
            doc.pop("tags", None)
        else:
            doc["tags"] = copy.deepcopy(tags)
        if self.has_etag:
            doc["etag"] = new_etag()
        return Response(200, self.view(arm, doc))

    def delete(self, arm: Arm, rid: str, headers: dict[str, str]) -> Response:
        doc = arm.resources.get(lower(rid))
        if doc is None:
            return Response(204)
        if self.managed_message:
            raise bad_request("OperationNotAllowed", self.managed_message)
        check_preconditions(doc, headers, rid, self.type)
        arm.refuse_if_locked(self, doc, "DELETE")
        self.check_delete(arm, doc)
        if not self.lro:
            arm.remove(self, doc)
            return Response(200)
        doc["properties"]["provisioningState"] = "Deleting"
        future = self.start_delete(arm, doc)
        op = arm.start_operation(doc["id"], self.type, "delete", doc.get("location"),
                                 finish=lambda: arm.remove(self, doc), future=future)
        return Response(202, None, arm.lro_headers(op))

    def action(self, arm: Arm, rid: str, name: str, body: Any, headers: dict[str, str]) -> Response:
        handler = {k.lower(): v for k, v in self.actions.items()}.get(name.lower())
        if handler is None:
            raise ArmError(404, "NotFound", f"The action '{name}' is not supported on {self.type}.")
        doc = arm.resources.get(lower(rid))
        if doc is None:
            raise not_found(rid, self.type)
        return handler(self, arm, doc, body or {})


def check_preconditions(old: dict[str, Any] | None, headers: dict[str, str], rid: str, type_: str) -> None:
    if_match = headers.get("if-match")
    if_none_match = headers.get("if-none-match")
    if if_match:
        if old is None:
            # ARM answers a conditional write on a missing resource as a failed precondition.
            raise ArmError(412, "PreconditionFailed", f"The resource '{rid}' does not exist (If-Match).")
        if if_match != "*" and if_match.strip() != old.get("etag"):
            raise ArmError(
                412, "PreconditionFailed",
                f"The condition specified using HTTP conditional header(s) is not met for {short_type(type_)} "
                f"'{old['name']}' (etag {old.get('etag')}).",
            )
    if if_none_match and if_none_match.strip() == "*" and old is not None:
        raise ArmError(
            412, "PreconditionFailed",
            f"The resource '{old['name']}' already exists and If-None-Match: * was specified.",
        )


def all_of(futures: Iterable[Future[Any]]) -> Future[Any] | None:
    """A future done when every one of `futures` is (None for none)."""
    pending = list(futures)
    if not pending:
        return None
    if len(pending) == 1:
        return pending[0]
    combined: Future[Any] = Future()
    left = [len(pending)]
    guard = threading.Lock()

    def one_done(_: Future[Any]) -> None:
        with guard:
            left[0] -= 1
            last = left[0] == 0
        if last:
            combined.set_result(None)

    for future in pending:
        future.add_done_callback(one_done)
    return combined


def raise_failures(futures: Iterable[Future[Any]]) -> None:
    """At an LRO's completion: the first failure of its deferred work fails the operation."""
    for future in futures:
        exc = future.exception()
        if isinstance(exc, ArmError):
            raise exc
        if exc is not None:
            raise ArmError(500, "InternalServerError", f"{type(exc).__name__}: {exc}")


class EmbeddedKind(Kind):
    """An inline child collection served as its own resource (`.../virtualNetworks/v/subnets/s`)."""

    parent_type: str = ""
    collection: str = ""

    def _parent(self, arm: Arm, rid: str) -> tuple[Kind, dict[str, Any]]:
        parsed = ResourceId.parse(rid)
        assert parsed and parsed.parent
        parent = arm.resources.get(lower(parsed.parent))
        if parent is None:
            raise not_found(parsed.parent, self.parent_type)
        return arm.kind(self.parent_type), parent

    def get(self, arm: Arm, rid: str) -> Response:
        kind, parent = self._parent(arm, rid)
        view = kind.view(arm, parent)
        item = find_named(view["properties"].get(self.collection), ResourceId.parse(rid).name)  # type: ignore[union-attr]
        if item is None:
            raise not_found(rid, self.type)
        return Response(200, item)

    def list(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        parent = arm.resources.get(lower(scope))
        if parent is None:
            raise not_found(scope, self.parent_type)
        return list(arm.kind(self.parent_type).view(arm, parent)["properties"].get(self.collection) or [])

    def _rewrite(self, arm: Arm, rid: str, item: dict[str, Any] | None, headers: dict[str, str]) -> bool:
        kind, parent = self._parent(arm, rid)
        name = ResourceId.parse(rid).name  # type: ignore[union-attr]
        body = public(parent)
        items = [i for i in body["properties"].get(self.collection) or [] if i["name"].lower() != name.lower()]
        existed = len(items) != len(body["properties"].get(self.collection) or [])
        if item is not None:
            existing = find_named(parent["properties"].get(self.collection), name)
            check_preconditions({**existing, "etag": parent["etag"]} if existing else None, headers, rid, self.type)
            items.append({**item, "name": existing["name"] if existing else name})
        body["properties"][self.collection] = items
        kind.write(arm, parent["id"], body, {})
        return existed

    def put(self, arm: Arm, rid: str, body: Any, headers: dict[str, str], patch: bool = False) -> Response:
        if not isinstance(body, dict):
            raise bad_request("InvalidRequestFormat", "Cannot parse the request.")
        item = {k: v for k, v in body.items() if k in ("properties", "zones")}
        existed = self._rewrite(arm, rid, item, headers)
        kind, parent = self._parent(arm, rid)
        op = arm.start_operation(parent["id"], kind.type, "put", parent.get("location"))
        return Response(200 if existed else 201, self.get(arm, rid).body, arm.lro_headers(op))

    def delete(self, arm: Arm, rid: str, headers: dict[str, str]) -> Response:
        kind, parent = self._parent(arm, rid)
        if find_named(parent["properties"].get(self.collection), ResourceId.parse(rid).name) is None:  # type: ignore[union-attr]
            return Response(204)
        self._rewrite(arm, rid, None, headers)
        op = arm.start_operation(parent["id"], kind.type, "put", parent.get("location"))
        return Response(202, None, arm.lro_headers(op))


class ListOnlyKind(Kind):
    """A collection GET with no resource behind it (e.g. private DNS `ALL`)."""

    def list_view(self, arm: Arm, scope: str) -> list[dict[str, Any]]:
        return []


# --- operations -----------------------------------------------------------------------------------------


# The action of a long-running read (e.g. an App Gateway's backend health): it neither locks the resource
# nor settles its provisioningState when it completes.
READ_ACTION = "read"


@dataclass
class Operation:
    id: str
    resource_id: str
    type: str
    action: str
    location: str
    done_at: float
    started: str
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    failed_status: str = "Failed"  # how an injected failure ends it (`LroFailure.status`)
    finish: Callable[[], Any] | None = None  # runs at completion; a returned value is the final result
    future: Future[Any] | None = None  # completion also waits for it (run-command)
    result: Any = None
    has_result: bool = False
    begun: float = 0.0  # `Arm.clock` when the operation started
    ended: float | None = None  # when it finished: its duration or its executor work, whichever came later
    work_done: list[float] = field(default_factory=list)  # when `future` finished


@dataclass
class LroFailure:
    """Make the next `count` LROs whose type or resource id contains `match` end `status` (Failed or
    Canceled) with this error."""

    match: str
    code: str
    message: str
    count: int = 1
    status: str = "Failed"


class Arm:
    """The whole emulated ARM: kinds, resources, private link connections, operations, settings."""

    def __init__(self, executor: InstanceExecutor | None = None, state_file: Path | None = None) -> None:
        self.executor: InstanceExecutor = executor or RecordingExecutor()
        self.state_file = state_file
        self.lock = threading.RLock()
        self.kinds: dict[str, Kind] = {}
        self.resources = TypedStore()
        self.links: dict[str, dict[str, Any]] = {}  # private endpoint connections, see privatelink.py
        self.undecided: dict[str, dict[str, Any]] = {}  # the links Confluent has yet to decide (privatelink.py)
        self.operations: dict[str, Operation] = {}
        self.in_progress: dict[str, Operation] = {}  # the operations not finished yet (`tick` prunes it)
        self.lro_seconds: dict[str, float] = {}  # lower-cased type -> seconds
        self.default_lro_seconds = DEFAULT_LRO_SECONDS
        self.lro_failures: list[LroFailure] = []
        # Retry-After on LRO responses and on 429 conflicts (Azure: ~10 s; 0 = let the client's interval rule)
        self.retry_after_seconds: int = 0
        # The least time a managed run command's script takes (Azure: ~20 s; `transit_sandbox.timing`).
        self.run_command_seconds = 0.0
        # Work started by a write outside the store lock, by lower-cased resource id (see `defer`)
        self.deferred: dict[str, list[Future[Any]]] = {}
        self.base_url = ""
        self.counter = 0
        # Emulated Confluent Cloud: aliases not owned by an emulated PLS (see privatelink.py).
        self.confluent_approval_seconds = CONFLUENT_APPROVAL_SECONDS
        self.alias_behaviour: dict[str, str] = {}  # lower alias -> "approve" | "reject" | "unknown"
        self.confluent_silent: set[str] = set()  # lower aliases whose Confluent side no longer answers
        # What answers at a backend address, for the App Gateway backend health API (network.py): None asks
        # the ARM state (a private endpoint, Approved, its Confluent zone answering); the data plane
        # (`data_path`) plugs in a real probe: (address, port) -> (health, healthProbeLog or None).
        self.backend_probe: Callable[[str, int], tuple[str, str | None]] | None = None
        self.clock: Callable[[], float] = time.monotonic
        # concurrent.futures pool for executor calls (boot, run-command, delete), created on first use
        self.run_command_pool: Any = None
        self.instance_work: dict[str, Future[Any]] = {}  # "<vmss id>/<instance id>" -> its latest executor call
        # Time-based changes outside operations (e.g. Confluent deciding on a connection), run by tick().
        self.tick_hooks: list[Callable[[Arm, float], bool]] = []
        # The `$expand` query parameter of the request being served (e.g. `instanceView`), set by routing.
        self.expand: str | None = None
        # Managed run command executions by lower-cased resource id (compute.py); not persisted.
        self.run_executions: dict[str, Any] = {}

    # registry -------------------------------------------------------------------------------------------
    def register(self, *kinds: Kind) -> None:
        for kind in kinds:
            self.kinds[kind.type.lower()] = kind

    def kind(self, type_: str) -> Kind:
        return self.kinds[type_.lower()]

    def find_kind(self, type_: str) -> Kind | None:
        return self.kinds.get(type_.lower())

    # lookups --------------------------------------------------------------------------------------------
    def get_doc(self, resource_id: str) -> dict[str, Any] | None:
        return self.resources.get(lower(resource_id))

    def resolve(self, resource_id: str) -> dict[str, Any] | None:
        """A top-level resource or an inline child (`<parent>/<collection>/<name>`), as stored."""
        doc = self.resources.get(lower(resource_id))
        if doc is not None:
            return doc
        parsed = ResourceId.parse(resource_id)
        if parsed is None or parsed.parent is None:
            return None
        parent = self.resolve(parsed.parent)
        if parent is None:
            return None
        return find_named(parent.get("properties", {}).get(parsed.types[-1]), parsed.name)

    def owner_of(self, resource_id: str) -> dict[str, Any] | None:
        """The top-level stored resource holding `resource_id` (itself, or the parent of an inline child)."""
        parsed = ResourceId.parse(resource_id)
        while parsed is not None:
            doc = self.resources.get(lower(parsed.prefix_id(len(parsed.types))))
            if doc is not None:
                return doc
            if parsed.parent is None:
                return None
            parsed = ResourceId.parse(parsed.parent)
        return None

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [doc for type_ in types for doc in self.resources.of_type(type_)]

    def referrers(self, target_id: str, exclude: set[str] = frozenset(),  # type: ignore[assignment]
                  types: tuple[str, ...] = ()) -> list[tuple[dict[str, Any], str]]:
        """(resource, referenced id) for every stored resource referring to target or one of its children;
        `types`: only resources of these types are looked at (all when empty)."""
        target = lower(target_id)
        out = []
        docs = ((lower(doc["id"]), doc) for doc in self.of_type(*types)) if types else self.resources.items()
        for key, doc in docs:
            if key in exclude or key == target:
                continue
            for _, ref in refs_in(doc.get("properties")):
                ref_l = lower(ref)
                if (ref_l == target or ref_l.startswith(target + "/")) and not ref_l.startswith(key + "/"):
                    out.append((doc, ref))
        return out

    # checks ---------------------------------------------------------------------------------------------
    def check_parent(self, rid: str) -> None:
        parsed = ResourceId.parse(rid)
        if parsed and parsed.parent and lower(parsed.parent) not in self.resources:
            raise ArmError(
                404, "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource "
                f"'{'/'.join(parsed.names[:-1])}' not found.",
            )

    def check_references(self, doc: dict[str, Any]) -> None:
        own = lower(doc["id"])
        for _, ref in refs_in(doc.get("properties")):
            ref_l = lower(ref)
            if ref_l.startswith(own + "/"):
                parsed = ResourceId.parse(ref)
                own_depth = len(ResourceId.parse(doc["id"]).types)  # type: ignore[union-attr]
                if (
                    parsed
                    and len(parsed.types) == own_depth + 1
                    and find_named(doc["properties"].get(parsed.types[-1]), parsed.name) is not None
                ):
                    continue
                raise self.invalid_reference(ref, doc["id"])
            target = self.resolve(ref)
            if target is None:
                raise self.invalid_reference(ref, doc["id"])
            owner = self.owner_of(ref)
            # Regional resources only reference regional resources of their own region (`global` ones,
            # like private DNS zones, may link VNets anywhere).
            if (
                owner is not None
                and doc.get("location") not in (None, "global")
                and owner.get("location") not in (None, "global")
                and owner["location"] != doc["location"]
            ):
                raise self.invalid_reference(ref, doc["id"])

    @staticmethod
    def invalid_reference(ref: str, by: str) -> ArmError:
        # Azure's wording: https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/
        return bad_request(
            "InvalidResourceReference",
            f"Resource {ref} referenced by resource {by} was not found. Please make sure that the referenced "
            "resource exists, and that both resources are in the same region.",
        )

    def refuse_if_referenced(self, doc: dict[str, Any], cascade: list[str], code: str) -> None:
        exclude = {lower(doc["id"]), *(lower(c) for c in cascade)}
        users = self.referrers(doc["id"], exclude)
        if users:
            user, ref = users[0]
            raise bad_request(
                code,
                f"{short_type(doc['type'])} {doc['id']} is in use by {user['id']} (through {ref}) and cannot "
                "be deleted. In order to delete the resource, remove all references to it first.",
            )

    def check_removed_children(self, kind: Kind, old: dict[str, Any] | None, doc: dict[str, Any]) -> None:
        """An inline child that another resource still references cannot be removed from its parent."""
        if old is None:
            return
        for coll in kind.collections:
            kept = {i["name"].lower() for i in doc["properties"].get(coll) or []}
            for item in old["properties"].get(coll) or []:
                if item["name"].lower() in kept:
                    continue
                child_kind = self.find_kind(f"{kind.type}/{coll}")
                code = child_kind.in_use_code if child_kind else kind.in_use_code
                self.refuse_if_referenced(item, [], code)

    def refuse_if_locked(self, kind: Kind, doc: dict[str, Any] | None, verb: str) -> None:
        """Network RP: a write on a resource whose own LRO is still in flight is refused (429, retryable)."""
        if doc is None or not kind.serialize_writes:
            return
        running = [
            op for op in self.in_progress.values()
            if op.status == "InProgress" and lower(op.resource_id) == lower(doc["id"])
            and op.action not in ("delete", READ_ACTION)
        ]
        if doc.get("properties", {}).get("provisioningState") not in ("Updating", "Creating") or not running:
            return
        op = running[0]
        raise ArmError(
            429, "RetryableErrorDueToAnotherOperation",
            f"Operation {verb} on resource {doc['id']} is conflicting with operation {op.id} "
            f"({op.action.upper()}, started at {op.started}) that is still in progress on the same resource. "
            "Retry the operation later.",
            {"Retry-After": self.retry_after_header()},
        )

    def retry_after_header(self) -> str:
        return str(int(self.retry_after_seconds))

    def defer(self, resource_id: str, future: Future[Any]) -> None:
        """The LRO of the write now under way on `resource_id` completes only once `future` is done."""
        self.deferred.setdefault(lower(resource_id), []).append(future)

    def take_deferred(self, resource_id: str) -> list[Future[Any]]:
        return self.deferred.pop(lower(resource_id), [])

    # operations -----------------------------------------------------------------------------------------
    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def start_operation(
        self,
        resource_id: str,
        type_: str,
        action: str,
        location: str | None,
        finish: Callable[[], Any] | None = None,
        future: Future[Any] | None = None,
    ) -> Operation:
        seconds = self.lro_seconds.get(type_.lower(), self.default_lro_seconds)
        now = self.clock()
        op = Operation(
            id=str(uuid.uuid4()), resource_id=resource_id, type=type_, action=action,
            location=location or "global", done_at=now + seconds, started=utcnow(),
            finish=finish, future=future, begun=now,
        )
        if future is not None:
            future.add_done_callback(lambda _: op.work_done.append(self.clock()))
        for failure in self.lro_failures:
            if failure.count > 0 and (
                failure.match.lower() in type_.lower() or failure.match.lower() in resource_id.lower()
            ):
                failure.count -= 1
                op.error = {"code": failure.code, "message": failure.message}
                op.failed_status = failure.status
                break
        self.lro_failures = [f for f in self.lro_failures if f.count > 0]
        self.operations[op.id] = op
        self.in_progress[op.id] = op
        return op

    def lro_headers(self, op: Operation) -> dict[str, str]:
        namespace = op.type.split("/")[0]
        sub = ResourceId.parse(op.resource_id).subscription  # type: ignore[union-attr]
        api = "2026-04-01" if namespace.lower() == "microsoft.compute" else "2026-03-01"
        base = f"{self.base_url}/subscriptions/{sub}/providers/{namespace}/locations/{op.location}"
        return {
            "Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={api}",
            "Location": f"{base}/operationResults/{op.id}?api-version={api}",
            "Retry-After": self.retry_after_header(),
        }

    def tick(self) -> None:
        """Complete the operations whose time has come; advance time-based private link decisions."""
        now = self.clock()
        changed = False
        for op in list(self.in_progress.values()):
            if op.status != "InProgress":
                del self.in_progress[op.id]  # finished elsewhere (cancelled, failed at start)
                continue
            if op.done_at > now:
                continue
            if op.future is not None and not op.future.done():
                continue
            self.complete(op)
            del self.in_progress[op.id]
            changed = True
        for hook in self.tick_hooks:
            changed = hook(self, now) or changed
        if changed:
            self.save()

    def complete(self, op: Operation) -> None:
        op.ended = max([op.done_at, *op.work_done])
        doc = self.resources.get(lower(op.resource_id))
        if op.error is not None:
            op.status = op.failed_status
            if doc is not None:
                doc["properties"]["provisioningState"] = op.failed_status
            return
        try:
            if op.finish is not None:
                result = op.finish()
                if result is not None:
                    op.result, op.has_result = result, True
        except ArmError as err:
            op.status, op.error = "Failed", {"code": err.code, "message": err.message}
            return
        op.status = "Succeeded"
        if op.action not in ("delete", READ_ACTION) and doc is not None and doc["properties"].get("provisioningState") in (
            "Updating", "Creating", "Failed"
        ):
            doc["properties"]["provisioningState"] = "Succeeded"

    def remove(self, kind: Kind, doc: dict[str, Any]) -> None:
        kind.after_delete(self, doc)
        for cascaded in kind.cascade(self, doc):
            self.resources.pop(lower(cascaded), None)
        self.resources.pop(lower(doc["id"]), None)

    # persistence ----------------------------------------------------------------------------------------
    def save(self) -> None:
        if self.state_file is None:
            return
        data = {"resources": self.resources, "links": self.links, "counter": self.counter}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_file)

    def load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        data = json.loads(self.state_file.read_text())
        self.links = data.get("links", {})
        self.undecided = {key: link for key, link in self.links.items() if link.get("decideAt") is not None}
        for link in self.links.values():
            link.pop("approvedAt", None)  # a time on the previous process's monotonic clock: long ago
        self.counter = data.get("counter", 0)
        self.resources = TypedStore()
        for key, doc in data.get("resources", {}).items():
            state = doc.get("properties", {}).get("provisioningState")
            if state == "Deleting":
                continue  # the operation finished while the emulator was down
            if state in ("Updating", "Creating"):
                doc["properties"]["provisioningState"] = "Succeeded"
            self.resources[key] = doc


def b64decode(value: str) -> bytes:
    return base64.b64decode(value, validate=True)

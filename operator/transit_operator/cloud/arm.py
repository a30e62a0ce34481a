"""One idempotent client contract for every ARM resource type, over the typed SDK operations.

    observe(id)            GET; REST-shaped dict (`model.as_dict()`), or None when missing. Never writes.
    ensure(resource)       observe, then at most one write:
                             missing                          -> PUT          Started
                             tagged for another owner         -> raise OwnershipConflict (no write)
                             provisioningState not terminal   -> nothing      InProgress
                             untagged (ours by name)          -> PUT + tags   Adopted
                             desired ⊆ observed               -> nothing      InSync
                             otherwise (or Failed)            -> PUT          Updated
                           When only the tags differ (adoption of an identical resource, a tag someone
                           removed) and the type has a tags-only PATCH (`update_tags`), that is sent
                           instead of a PUT: it changes no configuration (a PUT of an App Gateway's
                           configuration ends its live TCP connections after a 30 s drain). Values Azure
                           never returns (a scale set's customData: `ArmType.write_only`) are compared
                           through the hash tag `WRITE_ONLY_TAG` written with them (`as_written`).
    delete(id)             begin_delete; missing -> Gone, already deleting -> Deleting, never someone else's
    tags_of(body)          the ownership tags of an observed body, wherever its type keeps them
    release(id)            Orphan: our ownership tags removed - a tags-only PATCH where the type has one,
                           else a PUT of the observed body without them (and without what the spec marks
                           readOnly: `writable`)

Writes are REST-shaped dicts: the SDKs send a dict body as is (docs/platform-rules.md#sdk-bodies), so `plan`'s bodies go on
the wire unchanged. An update PUTs the desired body with the tags of the observed one merged in, so tags
others added survive.

Nothing blocks on a long-running operation: PUT and DELETE are started with `polling=False` and the
next reconcile reads `provisioningState` with a GET. We chose this over persisting LRO continuation
tokens: a GET is what a drift check does anyway, it survives operator restarts and azure-core upgrades
(tokens from another azure-core version are refused, docs/platform-rules.md#continuation-tokens), and it costs one read per
in-flight resource per pass. The price: an LRO's failure message is not seen, only `provisioningState:
Failed`, which `ensure` answers with a fresh PUT (ARM's documented way out of Failed).

Every id is checked before it is used (`plan.ids.parse_resource_id`: each segment a plain name), every
write is declared (`cloud.context.writing_to`: the SDK's URL, after the HTTP stack's normalisation, must be
that id), and every body read must carry the id that was asked for: `RefusedWrite` otherwise, so the
operator never reads one resource and writes what it saw to another. SDK errors leave as `CloudError`.

To support a new ARM type, add one `ArmType` line to `TYPES`.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from transit_operator.cloud.context import CloudContext, writing_to
from transit_operator.cloud.errors import (
    CloudError,
    OwnershipConflict,
    RefusedWrite,
    UnsupportedResourceType,
    sdk_errors,
)
from transit_operator.plan.ids import parse_resource_id, same_id

Service = Literal["network", "privatedns", "compute"]

TERMINAL_STATES = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class ArmType:
    """How one ARM type maps onto the SDK.

    service:      which management client (`CloudContext.client(service, subscription)`)
    operations:   the operation group attribute on that client
    long_running: `begin_create_or_update`/`begin_delete` (LRO) or `create_or_update`/`delete` (sync)
    type_arg:     the child type segment is itself an argument (DNS record sets: `record_type`)
    tags_path:    where ownership tags live in the body (record sets have `properties.metadata`)
    write_only:   paths Azure accepts in a PUT but never returns on GET (a scale set's customData): their
                  hash travels as the tag `WRITE_ONLY_TAG`, and `ensure` compares that instead
    """

    service: Service
    operations: str
    long_running: bool = True
    type_arg: bool = False
    tags_path: tuple[str, ...] = ("tags",)
    write_only: tuple[tuple[str, ...], ...] = ()

    def arguments(self, resource_id: str) -> tuple[str, ...]:
        """SDK positional arguments from an id: resource group, name, then each child's (type,) name."""
        parts = checked_id(resource_id).strip("/").split("/")
        out = [parts[3], parts[7]]
        for i in range(8, len(parts), 2):
            if self.type_arg:
                out.append(parts[i])
            out.append(parts[i + 1])
        return tuple(out)


def _record_sets(long_running: bool = False) -> ArmType:
    return ArmType(
        "privatedns", "record_sets", long_running, type_arg=True, tags_path=("properties", "metadata")
    )


# A scale set model's customData: "never returned on GET" (learn.microsoft.com/azure/virtual-machines/
# custom-data, "Can I retrieve custom data?": no).
_CUSTOM_DATA = ("properties", "virtualMachineProfile", "osProfile", "customData")
# The tag that carries the hash of a resource's write-only values. (Its name is from when customData was the
# only one; scale sets already carry it, so it stays.)
WRITE_ONLY_TAG = "transit-operator-cloud-init"

# The record types of Azure private DNS (learn.microsoft.com/rest/api/dns/privatednszones/record-sets).
_RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "PTR", "SOA", "SRV", "TXT")

# ARM type (case-insensitive) -> SDK operations. One line per type.
TYPES: dict[str, ArmType] = {
    key.lower(): value
    for key, value in {
        "Microsoft.Network/privateEndpoints": ArmType("network", "private_endpoints"),
        "Microsoft.Network/networkInterfaces": ArmType("network", "network_interfaces"),
        "Microsoft.Network/virtualNetworks": ArmType("network", "virtual_networks"),
        "Microsoft.Network/virtualNetworks/subnets": ArmType("network", "subnets"),
        "Microsoft.Network/loadBalancers": ArmType("network", "load_balancers"),
        "Microsoft.Network/privateLinkServices": ArmType("network", "private_link_services"),
        "Microsoft.Network/networkSecurityGroups": ArmType("network", "network_security_groups"),
        "Microsoft.Network/publicIPAddresses": ArmType("network", "public_ip_addresses"),
        "Microsoft.Network/applicationGateways": ArmType("network", "application_gateways"),
        "Microsoft.Network/privateDnsZones": ArmType("privatedns", "private_zones"),
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks": ArmType(
            "privatedns", "virtual_network_links"
        ),
        # Every record type of a private zone (the ones we write and the ones a zone list returns).
        **{f"Microsoft.Network/privateDnsZones/{t}": _record_sets() for t in _RECORD_TYPES},
        "Microsoft.Compute/virtualMachineScaleSets": ArmType(
            "compute", "virtual_machine_scale_sets", write_only=(_CUSTOM_DATA,)
        ),
    }.items()
}


def checked_id(resource_id: str) -> str:
    """The id when every segment is a plain name (`plan.ids.parse_resource_id`); RefusedWrite otherwise."""
    try:
        parse_resource_id(resource_id)
    except ValueError as exc:
        raise RefusedWrite(f"refusing to use the resource id: {exc}") from None
    return resource_id


def resource_type_of(resource_id: str) -> str:
    """`Microsoft.Network/privateDnsZones/A` from an id (namespace, type, child types)."""
    return parse_resource_id(checked_id(resource_id)).resource_type


def arm_type(resource_type: str) -> ArmType:
    found = TYPES.get(resource_type.lower())
    if found is None:
        raise UnsupportedResourceType(
            f"no SDK mapping for ARM type {resource_type!r}; add it to cloud.arm.TYPES"
        )
    return found


class Resource(Protocol):
    """What `ensure` needs of a desired resource (`plan.model.AzureResource` fits)."""

    @property
    def type(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def body(self) -> dict[str, Any]: ...


class OwnerRule(Protocol):
    """Who owns what, judged from tags (the reconcile layer adapts `plan.ownership`)."""

    @property
    def tag_keys(self) -> Collection[str]:
        """Tag keys that carry ownership (removed by `release`)."""
        ...

    def is_ours(self, tags: Mapping[str, str] | None) -> bool: ...

    def foreign_owner(self, tags: Mapping[str, str] | None) -> str | None:
        """Who else owns it (for the error message), or None when it is ours or nobody's."""
        ...


EnsureAction = Literal["Started", "Adopted", "Updated", "InSync", "InProgress"]
DeleteAction = Literal["Deleting", "Deleted", "Gone", "NotOwned"]
ReleaseAction = Literal["Released", "Gone", "NotOwned"]


@dataclass(frozen=True)
class EnsureResult:
    """What `ensure` did and the body it saw last (the PUT response after a write)."""

    action: EnsureAction
    id: str
    observed: dict[str, Any]
    long_running: bool = True
    retried_failed: bool = False  # the resource was in provisioningState Failed and was PUT again
    changes: tuple[str, ...] = ()  # what a write changed: JSON paths of the body, or "tags"
    tags_only: bool = False  # the write was a tags-only PATCH (no configuration changed)

    @property
    def in_flight(self) -> bool:
        """Something is still happening: an LRO we started, or one that was running when we looked."""
        return not self.settled or (self.wrote and self.long_running)

    @property
    def wrote(self) -> bool:
        return self.action in ("Started", "Adopted", "Updated")

    @property
    def provisioning_state(self) -> str | None:
        return provisioning_state(self.observed)

    @property
    def settled(self) -> bool:
        """True when no operation is in flight on the resource (provisioningState terminal or absent)."""
        state = self.provisioning_state
        return state is None or state.lower() in TERMINAL_STATES


@dataclass(frozen=True)
class DeleteResult:
    action: DeleteAction
    id: str

    @property
    def gone(self) -> bool:
        return self.action in ("Gone", "Deleted")


def provisioning_state(body: Mapping[str, Any] | None) -> str | None:
    if not body:
        return None
    state = (body.get("properties") or {}).get("provisioningState")
    return str(state) if state is not None else None


def _get_path(body: Mapping[str, Any], path: Iterable[str]) -> Any:
    current: Any = body
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _with_path(body: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = dict(body)
    if len(path) == 1:
        out[path[0]] = value
        return out
    out[path[0]] = _with_path(dict(body.get(path[0]) or {}), path[1:], value)
    return out


def tags_of(body: Mapping[str, Any]) -> Mapping[str, str] | None:
    """The tags of an observed body, wherever its type keeps them (record sets: `properties.metadata`)."""
    found = _get_path(body, arm_type(resource_type_of(str(body.get("id") or ""))).tags_path)
    return found if isinstance(found, Mapping) else None


def _write_only_digest(entry: ArmType, body: Mapping[str, Any]) -> str | None:
    values = [_get_path(body, path) for path in entry.write_only]
    present = [str(v) for v in values if v is not None]
    if not present:
        return None
    return hashlib.sha256("\n".join(present).encode("utf-8")).hexdigest()[:16]


def as_written(resource: Resource) -> dict[str, Any]:
    """The body `ensure` writes for `resource`: its own, plus the hash of its write-only values as a tag."""
    entry = arm_type(resource.type)
    digest = _write_only_digest(entry, resource.body)
    if digest is None:
        return resource.body
    return {**resource.body, "tags": {**(resource.body.get("tags") or {}), WRITE_ONLY_TAG: digest}}


def as_observed(entry: ArmType, desired: Mapping[str, Any], observed: dict[str, Any]) -> dict[str, Any]:
    """`observed` with the write-only values it has according to its tag: the desired ones when the tag
    holds their hash (Azure never returns them), none otherwise (so they differ and are written)."""
    digest = _write_only_digest(entry, desired)
    seen = {str(k).lower(): v for k, v in (observed.get("tags") or {}).items()}
    if digest is None or seen.get(WRITE_ONLY_TAG) != digest:
        return observed
    view = copy.deepcopy(observed)
    for path in entry.write_only:
        value = _get_path(desired, path)
        if value is not None:
            view = _with_path(view, path, value)
    return view


# --- the subset comparison ------------------------------------------------------------------------------


def _looks_like_id(value: str) -> bool:
    return value.startswith("/subscriptions/") or value.startswith("/Subscriptions/")


def _scalar_equal(desired: Any, observed: Any) -> bool:
    if isinstance(desired, str) and isinstance(observed, str):
        if _looks_like_id(desired) or _looks_like_id(observed):
            return desired.rstrip("/").lower() == observed.rstrip("/").lower()
        return desired == observed
    if isinstance(desired, bool) or isinstance(observed, bool):
        return desired is observed
    if isinstance(desired, (int, float)) and isinstance(observed, (int, float)):
        return desired == observed
    return bool(desired == observed)


def differences(desired: Any, observed: Any, path: str = "") -> list[str]:
    """Where `observed` does not say what `desired` says, as JSON paths (`properties.backendAddressPools
    [confluent].properties.backendAddresses`); empty when it does. A semantic comparison:

    - dicts: every desired key must hold; keys the server adds (read-only or default-filled) are ignored;
    - `None` and `[]` in desired match a missing, null or empty value (the service may leave an empty
      collection out); `{}` asks for nothing;
    - lists: same length; items with a `name` are matched by name (case-insensitively), others as a
      multiset (order does not matter);
    - strings that are ARM ids compare case-insensitively (ARM ids are); numbers by value; booleans are
      not numbers.
    """
    if desired is None or (isinstance(desired, list) and not desired):
        return [] if observed is None or (isinstance(observed, list) and not observed) else [path or "."]
    if isinstance(desired, Mapping) and not desired:
        return [] if observed is None or isinstance(observed, Mapping) else [path or "."]
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return [path or "."]
        return [d for key, value in desired.items() for d in differences(value, observed.get(key), _join(path, key))]
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(desired) != len(observed):
            return [path or "."]
        if all(isinstance(item, Mapping) and "name" in item for item in desired):
            by_name = {str(item.get("name", "")).lower(): item for item in observed if isinstance(item, Mapping)}
            out: list[str] = []
            for item in desired:
                name = str(item["name"])
                where = f"{path}[{name}]"
                if name.lower() not in by_name:
                    out.append(where)
                    continue
                rest = {k: v for k, v in item.items() if k != "name"}
                out.extend(differences(rest, by_name[name.lower()], where))
            return out
        remaining = list(observed)
        for item in desired:
            match = next((i for i, seen in enumerate(remaining) if not differences(item, seen)), None)
            if match is None:
                return [path or "."]
            remaining.pop(match)
        return []
    return [] if _scalar_equal(desired, observed) else [path or "."]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_subset(desired: Any, observed: Any) -> bool:
    """True when everything `desired` says is also true of `observed` (see `differences`)."""
    return not differences(desired, observed)


def _tags_subset(desired: Mapping[str, str] | None, observed: Mapping[str, str] | None) -> bool:
    """Azure tag names are case-insensitive; values are not."""
    seen = {str(k).lower(): v for k, v in (observed or {}).items()}
    return all(seen.get(str(k).lower()) == v for k, v in (desired or {}).items())


def _merged_tags(desired: Mapping[str, str] | None, observed: Mapping[str, str] | None) -> dict[str, str]:
    """Observed tags others set, overridden by ours (case-insensitive keys)."""
    ours = {str(k).lower() for k in (desired or {})}
    merged = {k: v for k, v in (observed or {}).items() if str(k).lower() not in ours}
    merged.update(desired or {})
    return merged


# --- the client -----------------------------------------------------------------------------------------


class Arm:
    """Generic observe/ensure/delete/release over the typed SDK operations of `TYPES`."""

    def __init__(self, ctx: CloudContext) -> None:
        self._ctx = ctx

    def _operations(self, resource_id: str) -> tuple[ArmType, Any, tuple[str, ...]]:
        entry = arm_type(resource_type_of(resource_id))
        subscription = parse_resource_id(resource_id).subscription_id
        client = self._ctx.client(entry.service, subscription)
        return entry, getattr(client, entry.operations), entry.arguments(resource_id)

    def observe(self, resource_id: str) -> dict[str, Any] | None:
        """GET as a REST-shaped dict; None when it does not exist. RefusedWrite when the body is another
        resource's (its `id` is not `resource_id`)."""
        _, ops, args = self._operations(resource_id)
        try:
            with sdk_errors():
                model = ops.get(*args)
        except CloudError as exc:
            if _is_404(exc):
                return None
            raise
        return _same_resource(resource_id, as_dict(model))

    def list_children(self, parent_id: str, child: str) -> list[dict[str, Any]]:
        """List children of a resource in one call: `recordSets` or `virtualNetworkLinks` of a DNS zone.
        Only children of `parent_id` are returned (each child's id must be under it)."""
        parsed = parse_resource_id(checked_id(parent_id))
        group, name = parsed.resource_group, parsed.name
        client = self._ctx.client("privatedns", parsed.subscription_id)
        listers: dict[str, Callable[[], Iterable[Any]]] = {
            "recordSets": lambda: client.record_sets.list(group, name),
            "virtualNetworkLinks": lambda: client.virtual_network_links.list(group, name),
        }
        try:
            with sdk_errors():
                items = [as_dict(item) for item in listers[child]()]
        except CloudError as exc:
            if _is_404(exc):
                return []
            raise
        prefix = parent_id.rstrip("/").lower() + "/"
        return [item for item in items if str(item.get("id", "")).lower().startswith(prefix)]

    def put(self, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """One PUT of `body` (started, not awaited): no ownership, no comparison. For the one field the
        operator sets on a resource it does not own (the gateway subnet's NSG); `ensure` otherwise."""
        return self._put(resource_id, body)

    def writable(self, resource_id: str, observed: Mapping[str, Any]) -> dict[str, Any]:
        """An observed body fit to PUT back: without every property the REST spec marks readOnly, at any
        depth (`etag`, `type` and `provisioningState` of inline children, a NSG's `defaultSecurityRules`, a
        zone's record counts, ...). The SDK's generated model of the type - what `get` returns - knows them
        (`rest_field(visibility=["read"])`); `as_dict(exclude_readonly=True)` drops them."""
        _, ops, _ = self._operations(resource_id)
        model = inspect.signature(ops.get).return_annotation
        return dict(model(dict(observed)).as_dict(exclude_readonly=True))

    def _tags_patchable(self, resource_id: str) -> bool:
        """The type's tags can be changed alone: a synchronous `update_tags` (PATCH with a TagsObject)."""
        entry, ops, _ = self._operations(resource_id)
        return entry.tags_path == ("tags",) and callable(getattr(ops, "update_tags", None))

    def _patch_tags(self, resource_id: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """PATCH the resource's tags alone (they replace the old set) and nothing else."""
        _, ops, args = self._operations(resource_id)
        with writing_to(resource_id), sdk_errors():
            written = ops.update_tags(*args, {"tags": dict(tags)})
        return _same_resource(resource_id, as_dict(written))

    def _put(self, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        entry, ops, args = self._operations(resource_id)
        with writing_to(resource_id), sdk_errors():
            if entry.long_running:
                written = ops.begin_create_or_update(*args, body, polling=False).result()
            else:
                written = ops.create_or_update(*args, body)
        return _same_resource(resource_id, as_dict(written))

    def ensure(
        self,
        resource: Resource,
        owner: OwnerRule,
        *,
        observed: dict[str, Any] | Literal[False] | None = False,
    ) -> EnsureResult:
        """Drive one resource to `resource.body` with at most one write. `observed`: skip the GET when the
        caller already has the body (e.g. from a list); False means "not known, GET it"."""
        entry = arm_type(resource.type)
        body = as_written(resource)
        current = self.observe(resource.id) if observed is False else observed
        desired_tags = _get_path(body, entry.tags_path)
        if current is None:
            return EnsureResult("Started", resource.id, self._put(resource.id, body), entry.long_running)
        current = as_observed(entry, body, current)
        observed_tags = _get_path(current, entry.tags_path)
        foreign = owner.foreign_owner(observed_tags)
        if foreign is not None:
            raise OwnershipConflict(resource.id, foreign)
        state = provisioning_state(current)
        if state is not None and state.lower() not in TERMINAL_STATES:
            return EnsureResult("InProgress", resource.id, current, entry.long_running)
        merged_tags = _merged_tags(desired_tags, observed_tags)
        merged = _with_path(body, entry.tags_path, merged_tags)
        failed = state is not None and state.lower() != "succeeded"
        changes = tuple(differences(_without_path(body, entry.tags_path), current))
        ours = owner.is_ours(observed_tags)
        if ours and not failed and not changes and _tags_subset(desired_tags, observed_tags):
            return EnsureResult("InSync", resource.id, current, entry.long_running)
        action: EnsureAction = "Updated" if ours else "Adopted"
        if not failed and not changes and self._tags_patchable(resource.id):
            patched = self._patch_tags(resource.id, merged_tags)
            return EnsureResult(action, resource.id, patched, False, changes=("tags",), tags_only=True)
        why = changes or (("provisioningState",) if failed else ("tags",))
        written = self._put(resource.id, merged)
        return EnsureResult(
            action, resource.id, written, entry.long_running, retried_failed=failed and ours, changes=why
        )

    def delete(
        self,
        resource_id: str,
        owner: OwnerRule | None = None,
        *,
        observed: dict[str, Any] | Literal[False] | None = False,
    ) -> DeleteResult:
        """Start deleting a resource we own. Missing: Gone. Not ours (when `owner` is given): NotOwned."""
        entry, ops, args = self._operations(resource_id)
        current = self.observe(resource_id) if observed is False else observed
        if current is None:
            return DeleteResult("Gone", resource_id)
        if owner is not None and not owner.is_ours(_get_path(current, entry.tags_path)):
            return DeleteResult("NotOwned", resource_id)
        state = provisioning_state(current)
        if state is not None and state.lower() == "deleting":
            return DeleteResult("Deleting", resource_id)
        try:
            with writing_to(resource_id), sdk_errors():
                if entry.long_running:
                    ops.begin_delete(*args, polling=False)
                    return DeleteResult("Deleting", resource_id)
                ops.delete(*args)
                return DeleteResult("Deleted", resource_id)
        except CloudError as exc:
            if _is_404(exc):
                return DeleteResult("Gone", resource_id)
            raise

    def release(
        self, resource_id: str, owner: OwnerRule, *, observed: dict[str, Any] | Literal[False] | None = False
    ) -> ReleaseAction:
        """Orphan: remove only our ownership tags (one PUT of the observed body); leave everything else."""
        entry = arm_type(resource_type_of(resource_id))
        current = self.observe(resource_id) if observed is False else observed
        if current is None:
            return "Gone"
        tags = _get_path(current, entry.tags_path)
        if not owner.is_ours(tags):
            return "NotOwned"
        keys = {k.lower() for k in owner.tag_keys}
        kept = {k: v for k, v in (tags or {}).items() if str(k).lower() not in keys}
        if self._tags_patchable(resource_id):
            self._patch_tags(resource_id, kept)
            return "Released"
        body = self.writable(resource_id, current)
        self._put(resource_id, _with_path(body, entry.tags_path, kept))
        return "Released"


def _is_404(exc: CloudError) -> bool:
    """The `CloudError` was made of an SDK 404 ("not there" for a GET, "already gone" for a DELETE)."""
    cause = exc.__cause__
    return isinstance(cause, ResourceNotFoundError) or (
        isinstance(cause, HttpResponseError) and cause.status_code == 404
    )


def _same_resource(resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body` when it is the body of `resource_id` (or carries no id); RefusedWrite otherwise."""
    seen = body.get("id")
    if isinstance(seen, str) and seen and not same_id(seen, resource_id):
        raise RefusedWrite(f"reading {resource_id} returned the body of {seen[:300]}; refusing to use it")
    return body


def _without_path(body: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = dict(body)
    if len(path) == 1:
        out.pop(path[0], None)
    elif isinstance(out.get(path[0]), Mapping):
        out[path[0]] = _without_path(out[path[0]], path[1:])
    return out


def as_dict(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    as_dict = getattr(model, "as_dict", None)
    if as_dict is not None:
        return dict(as_dict())
    return dict(model)

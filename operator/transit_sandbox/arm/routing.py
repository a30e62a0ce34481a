"""From an HTTP request (method, path, api-version, headers, JSON body) to a `Kind` call.

Paths are ARM's: `/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}...`, matched
case-insensitively. An even number of segments after the namespace addresses a resource; an odd number
is either a collection (GET: list) or an action on the resource before it (POST, e.g. `runCommand`).
Operation status documents live at `/subscriptions/{sub}/providers/{ns}/locations/{loc}/operations/{id}`
(`Azure-AsyncOperation`) and `.../operationResults/{id}` (`Location`).
"""

from __future__ import annotations

from typing import Any

from .. import conformance
from .core import GUID, Arm, ArmError, Kind, Response, bad_request

# Resource providers that refuse a body they cannot parse into their model: a member their model does not
# have, or a value of the wrong JSON type, is a 400 `InvalidRequestFormat` "Cannot parse the request." with
# an `InvalidJson` detail ("Could not find member 'Sku' on object of type 'PublicIpAddressProperties'. Path
# 'properties.Sku'": Microsoft.Network in microsoft/sql-server-samples#1294, Microsoft.Compute
# ('VMNetworkProfile') in MicrosoftLearning/AZ-700-Designing-and-Implementing-Microsoft-Azure-Networking-
# Solutions#153). Read-only members are ignored, as ARM's GET-modify-PUT pattern needs. Private DNS:
# UNCONFIRMED, not enforced. The model is the spec's, from the SDK (`transit_sandbox.conformance`).
STRICT_PACKAGES = ("azure.mgmt.network", "azure.mgmt.compute")


def handle(arm: Arm, method: str, path: str, api_version: str | None, headers: dict[str, str], body: Any,
           query: dict[str, str] | None = None) -> Response:
    arm.expand = (query or {}).get("$expand")
    segs = [s for s in path.split("/") if s]
    low = [s.lower() for s in segs]
    if len(segs) < 2 or low[0] != "subscriptions":
        raise ArmError(404, "NotFound", f"No route for {method} {path}.")
    if not GUID.match(segs[1]):
        raise bad_request("InvalidSubscriptionId", f"The provided subscription identifier '{segs[1]}' is malformed or invalid.")
    if api_version is None:
        raise bad_request("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
    if body is not None and method in ("PUT", "PATCH", "POST"):
        refuse_unparsable(method, path, api_version, body)

    # operation status and results: /subscriptions/S/providers/NS/locations/L/{operations|operationResults}/ID
    if len(segs) == 8 and low[2] == "providers" and low[4] == "locations" and method == "GET":
        if low[6] in ("operations", "asyncoperations"):
            return operation_status(arm, segs[7])
        if low[6] == "operationresults":
            return operation_result(arm, segs[7])

    if len(segs) >= 5 and low[2] == "providers":  # subscription-wide list
        kind = _kind(arm, f"{segs[3]}/{segs[4]}", api_version)
        if len(segs) == 5 and method == "GET":
            return Response(200, {"value": kind.list(arm, f"/subscriptions/{segs[1]}")})
        raise ArmError(404, "NotFound", f"No route for {method} {path}.")

    if len(segs) == 4 and low[2] == "resourcegroups":
        # Resource groups are implicit: every one exists.
        rg = {"id": f"/subscriptions/{segs[1]}/resourceGroups/{segs[3]}", "name": segs[3],
              "type": "Microsoft.Resources/resourceGroups", "properties": {"provisioningState": "Succeeded"}}
        return Response(200 if method in ("GET", "PUT", "PATCH") else 202, rg if method != "DELETE" else None)

    if len(segs) < 7 or low[2] != "resourcegroups" or low[4] != "providers":
        raise ArmError(404, "NotFound", f"No route for {method} {path}.")
    namespace, tail = segs[5], segs[6:]
    types, names = tail[0::2], tail[1::2]
    scope = "/".join(["", *segs[:6]])

    if len(tail) % 2 == 1:
        list_kind = arm.find_kind("/".join([namespace, *types]))
        base = "/".join([scope, *tail[:-1]])
        if list_kind is not None and method == "GET":
            _check_version(list_kind, api_version)
            if len(tail) == 1:
                return Response(200, {"value": list_kind.list(arm, scope)})
            return Response(200, {"value": list_kind.list(arm, base)})
        owner = _kind(arm, "/".join([namespace, *types[:-1]]), api_version)
        arm.check_parent(base)
        return owner.action(arm, base, tail[-1], body, headers)

    kind = _kind(arm, "/".join([namespace, *types]), api_version)
    rid = "/".join([scope, *tail])
    del names
    if method == "GET":
        return kind.get(arm, rid)
    if method == "PUT":
        return kind.put(arm, rid, body, headers)
    if method == "PATCH":
        op = conformance.find_operation(method, path, api_version)
        if op is not None and op.request_model is not None and op.request_model.__name__ == "TagsObject":
            return kind.patch_tags(arm, rid, body, headers)
        return kind.put(arm, rid, body, headers, patch=True)
    if method == "DELETE":
        return kind.delete(arm, rid, headers)
    if method == "HEAD":
        return Response(204 if arm.get_doc(rid) else 404)
    raise ArmError(405, "MethodNotAllowed", f"The requested method {method} is not allowed on {rid}.")


def refuse_unparsable(method: str, path: str, api_version: str, body: Any) -> None:
    op = conformance.find_operation(method, path, api_version)
    if op is None or op.request_model is None or op.package not in STRICT_PACKAGES:
        return
    for problem in conformance.check_body(op.request_model, body, "request", where=""):
        json_path = problem.where.lstrip(".")
        if problem.kind == "undeclared":
            member = json_path.rsplit(".", 1)[-1]
            detail = f"Could not find member '{member}' on object of type '{problem.owner}'. Path '{json_path}'."
        elif problem.kind == "type":
            # UNCONFIRMED wording (Json.NET's conversion error is what the RPs pass on).
            detail = f"Error converting value to type '{problem.owner or 'value'}': {problem.message}. Path '{json_path}'."
        else:
            continue
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request.",
                       details=[{"code": "InvalidJson", "message": detail}])


def _kind(arm: Arm, type_: str, api_version: str) -> Kind:
    kind = arm.find_kind(type_)
    if kind is None:
        namespace, _, rest = type_.partition("/")
        raise bad_request(
            "InvalidResourceType",
            f"The resource type '{rest}' could not be found in the namespace '{namespace}' for api version "
            f"'{api_version}'.",
        )
    _check_version(kind, api_version)
    return kind


def _check_version(kind: Kind, api_version: str) -> None:
    if api_version not in kind.api_versions:
        _, _, rest = kind.type.partition("/")
        raise bad_request(
            "NoRegisteredProviderFound",
            f"No registered resource provider found for location 'global' and API version '{api_version}' for "
            f"type '{rest}'. The supported api-versions are '{', '.join(sorted(kind.api_versions))}'.",
        )


def operation_status(arm: Arm, op_id: str) -> Response:
    op = arm.operations.get(op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"Operation {op_id} was not found.")
    body: dict[str, Any] = {"id": op.id, "name": op.id, "status": op.status, "startTime": op.started}
    if op.error is not None and op.status in ("Failed", "Canceled"):
        body["error"] = op.error
    # While in progress Azure tells the poller when to come back; azure-core sleeps for it.
    headers = {"Retry-After": arm.retry_after_header()} if op.status == "InProgress" else {}
    return Response(200, body, headers)


def operation_result(arm: Arm, op_id: str) -> Response:
    op = arm.operations.get(op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"Operation {op_id} was not found.")
    if op.status == "InProgress":
        return Response(202, None, arm.lro_headers(op))
    if op.status in ("Failed", "Canceled"):
        assert op.error is not None
        raise ArmError(400, op.error["code"], op.error["message"])
    if op.has_result:
        return Response(200, op.result)
    return Response(204)

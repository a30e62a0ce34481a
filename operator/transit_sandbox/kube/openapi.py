"""`/openapi/v3`: one small document per group-version, good enough for `kubectl apply` (it advertises the
`fieldValidation` parameter, so kubectl leaves validation to the server) and `kubectl explain` (the CRD schemas)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from transit_sandbox.kube.store import ApiError, KubeApi


def openapi_documents(api: KubeApi, server_version: str) -> dict[str, dict[str, Any]]:
    """One small OpenAPI document per group-version: the operations kubectl inspects, and schemas."""
    documents: dict[str, dict[str, Any]] = {}
    for rt in api.types():
        key = f"apis/{rt.group}/{rt.version}" if rt.group else "api/v1"
        document = documents.setdefault(key, {"openapi": "3.0.0", "info": {"title": "Kubernetes",
                                                                            "version": server_version},
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

def openapi_answer(api: KubeApi, server_version: str, rest: list[str]) -> dict[str, Any]:
    """`/openapi/v3` (the index) or `/openapi/v3/<group-version>` (one document)."""
    documents = openapi_documents(api, server_version)
    if not rest:
        return {"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash="
                                      + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()}
                                for key, doc in documents.items()}}
    document = documents.get("/".join(rest))
    if document is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return document

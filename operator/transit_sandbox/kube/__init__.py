"""An emulated Kubernetes API server, in memory, for kopf, the `kubernetes` client and real `kubectl`.

Why our own small aiohttp server and not a subclass of kmock's `KubernetesEmulator`: kmock keeps objects
as a history of plain dict merges and changes state inside its request interceptor (`_handle`) before any
override can answer, treats PUT and PATCH alike, and has no resourceVersion, generation, status
subresource, 404s or schema validation (kmock 0.8 from PyPI, read at that version). A subclass would
override almost every method and still fight the DSL underneath; one catch-all route over a plain store
is smaller and behaves exactly as we decide.

What it does, like a real API server:

- discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`), `/version`, and an `/openapi/v3`
  good enough for `kubectl apply` (it advertises the `fieldValidation` parameter) and `kubectl explain`;
- built-in core `namespaces`, `secrets`, `configmaps`, `events`, `coordination.k8s.io` `leases` and
  `apiextensions.k8s.io` `customresourcedefinitions`; POSTing a CRD registers its resources (names, short
  names, categories, scope, per-version schema, status subresource, printer columns);
- writes of custom resources are pruned, defaulted and validated against the CRD's `openAPIV3Schema`
  (`schema`), refused with 422 and a `Status` whose message names the field path;
- server-assigned `uid`, `creationTimestamp`, a global monotonically increasing `resourceVersion`,
  `metadata.generation` bumped on spec changes only; 201/409/404/409-conflict like the real thing;
- list (`kind: XList`, label and field selectors), watch (`application/json` stream that resumes from
  `resourceVersion`, honours `timeoutSeconds`, answers 410 Expired when too old, `sendInitialEvents`),
  PUT, PATCH (merge, JSON patch, strategic merge as merge, server-side apply as merge), the `status`
  subresource, DELETE with finalizers and namespace cascade, `dryRun=All`, server-side Tables for
  `kubectl get` (printer columns).

It runs in a background thread with its own event loop (`KubeEmulator.start()`), so clients in any
other loop or thread can use it. It never imports `transit_operator`.

Modules: `store` (the semantics, no I/O), `http` (the REST surface), `openapi` and `tables` (what kubectl
reads besides objects), `patch` and `schema` (patch types, selectors, CRD schema validation), `emulator`
(the thread runner). Besides the emulator: `apiserver` (a real kube-apiserver + etcd on loopback, for the
same tests) and `client` (the `Cluster` both are used through: HTTP with the `kubernetes` client).

Choose a server with `start_server("embedded" | "real")`; both have `.kubeconfig`, `.url`, `.client()`,
`.write_kubeconfig(path, token=...)` and `.stop()`.
"""

from __future__ import annotations

from typing import Literal

from transit_sandbox.kube.apiserver import KubeBinariesMissing, RealApiServer
from transit_sandbox.kube.client import Cluster, KubeClient, write_kubeconfig
from transit_sandbox.kube.emulator import KubeEmulator
from transit_sandbox.kube.store import ApiError, KubeApi, ResourceType

__all__ = ["ApiError", "Cluster", "KubeApi", "KubeBinariesMissing", "KubeClient", "KubeEmulator", "KubeServer",
           "RealApiServer", "ResourceType", "start_server", "write_kubeconfig"]

KubeServer = KubeEmulator | RealApiServer
SERVER_KINDS = ("embedded", "real")


def start_server(kind: Literal["embedded", "real"] | str) -> KubeServer:
    """A started Kubernetes API server: the embedded emulator, or kube-apiserver + etcd (raises
    KubeBinariesMissing when they are not built)."""
    if kind == "embedded":
        return KubeEmulator().start()
    if kind == "real":
        return RealApiServer().start()
    raise ValueError(f"unknown Kubernetes API server {kind!r}: choose one of {', '.join(SERVER_KINDS)}")

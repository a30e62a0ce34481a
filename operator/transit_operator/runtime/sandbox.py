"""`transit-operator sandbox`: the whole system on one machine, no cloud account, no cluster.

1. start the sandbox cloud (`transit_sandbox.server.SandboxCloud`: ARM + Databricks over HTTPS, its own
   CA and token) and a Kubernetes API (`--kube embedded`, the default: `transit_sandbox.kube.KubeEmulator`;
   `--kube real`: kube-apiserver + etcd built by `scripts/dev bootstrap`, `transit_sandbox.kube.RealApiServer`),
   reached only over HTTP through `transit_sandbox.kube.KubeClient`, like any cluster;
2. install the CRDs generated from the API models, pre-create what the customer owns — the Databricks
   accounts the CRs name and the workspaces they bind (the account API cannot create either) and the
   VNets/subnets their subnet ids name — then apply the Namespaces, Secrets and CRs of the files
   (default: the YAML of the numbered example folders), refusing invalid ones exactly as a cluster would.
   A Secret a ServerlessTransit names as its Databricks credentials is applied with the sandbox's token
   (key `token`) in place of its data, and the output says so: the sandbox emulates no Entra ID, so
   client-secret or OAuth credentials could not sign in; the operator reads it like any Secret;
3. run the operator in-process against both (kopf and the Secret reader log in with a kubeconfig, as
   `run --kubeconfig` does; `CloudContext` points at the sandbox cloud), print a table of the objects
   whenever it changes, and write that kubeconfig so `kubectl` can watch along;
4. `--until-ready`: exit 0 once every CR is Ready, or 1 after `--timeout` printing the conditions.

With `--dataplane` (root) the VMSS instances are network namespaces running real HAProxy, and once every CR
is Ready the data path is built from what the operator wrote into the sandbox cloud
(`transit_sandbox.data_path`): Apache Kafka behind the Confluent endpoints of each private DNS zone, and
per haproxy transit a serverless client that resolves the NCC rule's domain names to the NCC endpoint, in
front of Private Link and the load balancer. A Kafka producer and a checking consumer then run through
each; with `--until-ready` the exit status says whether every message arrived once and in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import yaml

from transit_operator.api.hostnames import private_name
from transit_operator.api.kinds import API_VERSION, KIND_TABLE
from transit_operator.plan.command import load_yaml_documents
from transit_operator.plan.ids import NETWORK_API_VERSION
from transit_operator.runtime.driver import CONFLUENT, TRANSIT, Reconcilers, Runtime
from transit_operator.runtime.main import build_settings, configure_logging, kubernetes_secret_reader, operate
from transit_sandbox.kube.client import Cluster

KINDS = tuple(entry.kind for entry in KIND_TABLE)
APPLY_ORDER = {"Namespace": 0, "Secret": 1, **{kind: 2 + i for i, kind in enumerate(KINDS)}}
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
# One example per option (a single-zone HAProxy transit, the Application Gateway transit): what the e2e
# tests and the matrices run.
OPTION_EXAMPLES = {
    "haproxy": [EXAMPLES / "02-single-zone-haproxy" / "transit.yaml"],
    "applicationGateway": [EXAMPLES / "03-appgw-transit" / "confluent-private-link.yaml",
                           EXAMPLES / "03-appgw-transit" / "serverless-transit.yaml"],
}


def load_documents(files: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The Namespaces, Secrets and CRs in `files`, in the order they can be applied."""
    documents: list[dict[str, Any]] = []
    for path in files:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text()
        for doc in load_yaml_documents(text):  # bounded: aliases, size, depth
            if isinstance(doc, dict) and doc.get("kind") in APPLY_ORDER:
                documents.append(doc)
    return sorted(documents, key=lambda d: APPLY_ORDER[d["kind"]])


def example_files(root: Path = EXAMPLES) -> list[Path]:
    """The YAML of the numbered example folders (`NN-name/`) holding something the sandbox applies.
    Other folders (`gitops/`: Argo CD and Flux objects) are not examples of CRs."""
    return [path for path in sorted(root.glob("[0-9][0-9]-*/*.y*ml")) if load_documents([path])]


def workspaces_of(documents: Iterable[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """Workspace id -> (region, account id), for every ServerlessTransit's `spec.databricks.workspaceIds`."""
    found: dict[int, tuple[str, str]] = {}
    for doc in documents:
        if doc.get("kind") != TRANSIT:
            continue
        spec = doc.get("spec") or {}
        databricks = spec.get("databricks") or {}
        region = (databricks.get("ncc") or {}).get("region") or (spec.get("azure") or {}).get("location", "")
        for workspace_id in databricks.get("workspaceIds") or []:
            found[int(workspace_id)] = (region, str(databricks.get("accountId", "")))
    return found


def accounts_of(documents: Iterable[dict[str, Any]]) -> list[str]:
    """The Databricks account ids the ServerlessTransits name, in order."""
    found: list[str] = []
    for doc in documents:
        if doc.get("kind") == TRANSIT:
            account = ((doc.get("spec") or {}).get("databricks") or {}).get("accountId")
            if account and account not in found:
                found.append(str(account))
    return found


def with_sandbox_credentials(documents: list[dict[str, Any]], token: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents with every Secret a ServerlessTransit names in `spec.databricks.credentialsSecretRef`
    holding only `token: <the sandbox's token>`, and the "namespace/name" of those Secrets."""
    referenced = set()
    for doc in documents:
        if doc.get("kind") == TRANSIT:
            ref = ((doc.get("spec") or {}).get("databricks") or {}).get("credentialsSecretRef") or {}
            if ref.get("name"):
                referenced.add((doc["metadata"].get("namespace") or "default", ref["name"]))
    replaced: list[str] = []
    result = []
    for doc in documents:
        key = (doc["metadata"].get("namespace") or "default", doc["metadata"].get("name"))
        if doc.get("kind") == "Secret" and key in referenced:
            doc = {k: v for k, v in doc.items() if k not in ("data", "stringData")}
            doc["stringData"] = {"token": token}
            replaced.append("/".join(key))
        result.append(doc)
    return result, replaced


_SUBNET_ID = re.compile(r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
                        r"virtualNetworks/[^/]+)/subnets/([^/]+)$", re.IGNORECASE)


def subnets_of(documents: Iterable[dict[str, Any]]) -> dict[str, tuple[str, set[str]]]:
    """VNet id -> (location, subnet names) for every subnet id a CR's spec mentions."""
    found: dict[str, tuple[str, set[str]]] = {}

    def walk(node: Any, location: str) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value, location)
        elif isinstance(node, list):
            for value in node:
                walk(value, location)
        elif isinstance(node, str) and (match := _SUBNET_ID.match(node)):
            found.setdefault(match.group(1), (location, set()))[1].add(match.group(2))

    for doc in documents:
        if doc.get("kind") in KINDS:
            spec = doc.get("spec") or {}
            walk(spec, (spec.get("azure") or {}).get("location", "westeurope"))
    return found


def pinned_addresses(documents: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Subnet id (lower-cased) -> a static IP a CR places in it (an App Gateway's private frontend IP)."""
    found: dict[str, str] = {}
    for doc in documents:
        spec = doc.get("spec") or {}
        ip = (spec.get("applicationGateway") or {}).get("privateFrontendIp")
        subnet = (spec.get("network") or {}).get("frontendSubnetId")
        if doc.get("kind") == TRANSIT and ip and subnet:
            found[str(subnet).lower()] = str(ip)
    return found


def prepare_networks(cloud: Any, documents: list[dict[str, Any]]) -> None:
    """Create the VNets and subnets the CRs reference (the customer's network, not the operator's job).
    Each VNet gets 10.(100+n).0.0/16 with a /24 per subnet, except that a subnet holding a static IP a CR
    names gets the /24 around that IP (added to the VNet's address space)."""
    context = ssl.create_default_context(cafile=cloud.ca_bundle)
    pinned = pinned_addresses(documents)
    for index, (vnet_id, (location, subnets)) in enumerate(sorted(subnets_of(documents).items())):
        url = f"{cloud.arm_url}{vnet_id}?api-version={NETWORK_API_VERSION}"
        headers = {"Authorization": f"Bearer {cloud.token}", "Content-Type": "application/json"}
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context, timeout=30)
            continue  # exists (a persistent sandbox)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        prefixes = {name: f"10.{100 + index}.{k}.0/24" for k, name in enumerate(sorted(subnets))}
        for name in subnets:
            if ip := pinned.get(f"{vnet_id}/subnets/{name}".lower()):
                prefixes[name] = str(ipaddress.ip_network(f"{ip}/24", strict=False))
        space = [f"10.{100 + index}.0.0/16", *sorted({p for p in prefixes.values() if not
                                                      p.startswith(f"10.{100 + index}.")})]
        body = {"location": location, "properties": {
            "addressSpace": {"addressPrefixes": space},
            "subnets": [{"name": name, "properties": {
                "addressPrefix": prefixes[name],
                "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Disabled"}} for name in sorted(subnets)]}}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="PUT")
        urllib.request.urlopen(request, context=context, timeout=30).read()


def kafka_clusters_of(documents: Iterable[dict[str, Any]]) -> dict[str, str]:
    """DNS domain -> the cluster label of its bootstrap (`lkc-xxxxx`), for every ConfluentPrivateLink."""
    found = {}
    for doc in documents:
        confluent = (doc.get("spec") or {}).get("confluent") or {}
        if doc.get("kind") == CONFLUENT and confluent.get("dnsDomain") and confluent.get("bootstrapServer"):
            host = str(confluent["bootstrapServer"]).rpartition(":")[0]
            found[str(confluent["dnsDomain"]).lower()] = private_name(host, confluent["dnsDomain"]).split(".")[0]
    return found


def status_names_of(documents: Iterable[dict[str, Any]]) -> list[str]:
    """The domain names of the haproxy status endpoints the ServerlessTransits ask for."""
    return [str(status["domainName"]) for doc in documents if doc.get("kind") == TRANSIT
            if (status := (((doc.get("spec") or {}).get("haproxy") or {}).get("statusEndpoint") or {}))
            and status.get("domainName")]  # fmt: skip


def run_data_path(cloud: Any, executor: Any, documents: list[dict[str, Any]], out: TextIO) -> tuple[Any, int]:
    """Build the sandbox's data path and run Kafka through it (see the module docstring): (path, status)."""
    from transit_sandbox.confluent_zones import kafka_unavailable_reason
    from transit_sandbox.data_path import CloudApi, SandboxDataPath
    from transit_sandbox.dataplane import DataplaneError

    reason = kafka_unavailable_reason()
    if reason is not None:
        print(f"\ndata path: not built, Apache Kafka {reason}", file=out, flush=True)
        return None, 0
    subscriptions = [cloud.subscription_id] + [str(((doc.get("spec") or {}).get("azure") or {}).get("subscriptionId"))
                                               for doc in documents if doc.get("kind") in KINDS]  # fmt: skip
    api = CloudApi(cloud.arm_url, cloud.databricks_url, cloud.ca_bundle, cloud.token, subscriptions)
    path = SandboxDataPath(api, executor, account_ids=accounts_of(documents), clusters=kafka_clusters_of(documents),
                           status_names=status_names_of(documents))  # fmt: skip
    try:
        lines = path.build()
        print("\ndata path:\n  " + "\n  ".join(lines), file=out, flush=True)
        print("  " + "\n  ".join(path.check()), file=out, flush=True)
        return path, 0
    except DataplaneError as exc:
        print(f"data path: {exc}", file=out, flush=True)
        return path, 1


def prepare_customer_side(cloud: Any, cluster: Cluster, documents: list[dict[str, Any]],
                          out: TextIO | None = None) -> list[dict[str, Any]]:
    """What the customer owns before the operator runs, created in the sandbox cloud and the cluster: the
    Databricks accounts and workspaces the CRs name, the VNets/subnets they reference, their namespaces.
    Returns the documents with every credentials Secret a CR names holding the sandbox's token."""
    if cloud.databricks is not None:
        for account_id in accounts_of(documents):
            cloud.databricks.add_account(account_id)
        for workspace_id, (region, account_id) in workspaces_of(documents).items():
            if workspace_id not in cloud.databricks.workspaces:
                cloud.databricks.add_workspace(workspace_id, region, f"sandbox-workspace-{workspace_id}",
                                               account_id=account_id or None)
    prepare_networks(cloud, documents)
    for namespace in sorted({doc["metadata"].get("namespace") for doc in documents} - {None, "default"}):
        cluster.ensure_namespace(namespace)
    documents, replaced = with_sandbox_credentials(documents, cloud.token)
    for secret in replaced if out is not None else ():
        print(f"Secret {secret}: applied with the sandbox's Databricks token (key `token`) instead of the "
              "file's credentials: the sandbox emulates no Entra ID sign-in", file=out, flush=True)
    return documents


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    """The condition `type_` of `obj`'s status ({} when it has none, or there is no object)."""
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def is_ready(obj: dict[str, Any] | None) -> bool:
    """Ready=True for the object's current generation (kstatus: a Ready of an older spec is not Ready)."""
    ready = condition(obj, "Ready")
    return obj is not None and ready.get("status") == "True" \
        and ready.get("observedGeneration") == obj["metadata"].get("generation")


def rows(objects: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    table = []
    for obj in objects:
        ready = condition(obj, "Ready")
        table.append((f"{obj['metadata']['namespace']}/{obj['metadata']['name']}", obj["kind"],
                      ready.get("status", "Unknown"), ready.get("reason", ""), ready.get("message", "")))
    return table


def render(table: list[tuple[str, str, str, str, str]]) -> str:
    header = ("NAME", "KIND", "READY", "REASON", "MESSAGE")
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(4)]
    lines = ["  ".join(str(cell).ljust(widths[i]) if i < 4 else str(cell) for i, cell in enumerate(row))
             for row in [header, *table]]
    return "\n".join(lines)


async def watch_table(cluster: Cluster, until_ready: bool, timeout: float, out: TextIO) -> int:
    """Print the table on change; with `until_ready`, return 0 when all are Ready, 1 on timeout."""
    deadline = time.monotonic() + timeout
    last: list[tuple[str, str, str, str, str]] | None = None
    while True:
        objects = [obj for kind in KINDS for obj in await asyncio.to_thread(cluster.list_objects, API_VERSION, kind)]
        table = rows(objects)
        if table != last:
            print(f"\n{time.strftime('%H:%M:%S')}\n{render(table)}", file=out, flush=True)
            last = table
        if until_ready and table and all(row[2] == "True" for row in table):
            print("\nall objects are Ready", file=out, flush=True)
            return 0
        if until_ready and time.monotonic() > deadline:
            print(f"\ntimed out after {timeout:g}s; not Ready:", file=out)
            for obj in objects:
                if condition(obj, "Ready").get("status") != "True":
                    print(f"  {obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}:", file=out)
                    for item in (obj.get("status") or {}).get("conditions") or []:
                        print(f"    {item.get('type')}={item.get('status')} {item.get('reason', '')}: "
                              f"{item.get('message', '')}", file=out)
            out.flush()
            return 1
        await asyncio.sleep(0.5)


def sandbox_runtime_settings(cloud: Any, args: argparse.Namespace, out: TextIO) -> dict[str, Any]:
    """The runtime's timing for the sandbox cloud's timing profile (`--timing`, `--time-scale`).

    `fast`: the emulated cloud finishes in milliseconds what Azure takes minutes for, so look again after at
    most a second instead of the real-cloud delays the reconcilers ask for. `realistic`: the cloud takes
    Azure's durations times F, and the operator waits as `run --time-scale F` does."""
    from transit_sandbox.timing import apply_profile

    profile, scale = getattr(args, "timing", None) or "fast", getattr(args, "time_scale", None) or 1.0
    applied = apply_profile(cloud, profile, scale)
    if not applied:
        return {"tick_seconds": 0.5, "max_requeue_seconds": 1.0}
    print(f"timing {profile} x {scale:g}: " + ", ".join(f"{name.rsplit('/', 1)[-1]} {seconds:g}s"
                                                        for name, seconds in applied.items()), file=out)
    return {"time_scale": scale}


def run_sandbox(args: argparse.Namespace, out: TextIO = sys.stdout, reconcilers: Reconcilers | None = None) -> int:
    """`transit-operator sandbox -f FILE... [--until-ready] [--timeout S] [--dataplane] [--kube embedded|real]`.

    `reconcilers`: the real ones by default (tests pass a double to check the command itself).
    """
    from transit_operator.api.crd import render_crds_yaml
    from transit_operator.cloud.context import CloudContext
    from transit_sandbox.kube import ApiError, KubeBinariesMissing, start_server
    from transit_sandbox.server import SandboxCloud

    files = args.filename or example_files()
    documents = load_documents(files)
    if not any(doc["kind"] in KINDS for doc in documents):
        print(f"transit-operator sandbox: no ConfluentPrivateLink or ServerlessTransit in {files}", file=sys.stderr)
        return 2
    configure_logging("text", getattr(args, "log_level", None) or "warning")
    try:
        kube = start_server(getattr(args, "kube", None) or "embedded")
    except KubeBinariesMissing as exc:
        print(f"transit-operator sandbox --kube real: {exc}", file=sys.stderr)
        return 2

    executor: Any
    data_path: Any = None
    if args.dataplane:
        from transit_sandbox.data_path import SANDBOX_VNET
        from transit_sandbox.dataplane import NetnsExecutor, VNet

        executor = NetnsExecutor(VNet(SANDBOX_VNET), owns_vnet=True)
    else:
        from transit_sandbox.executor import ConfigExecutor

        executor = ConfigExecutor()  # instances answer the apply script's contract, without HAProxy
    try:
        with SandboxCloud(executor=executor) as cloud:
            cluster = kube.client()
            cluster.install_crds(list(yaml.safe_load_all(render_crds_yaml())))
            documents = prepare_customer_side(cloud, cluster, documents, out)
            for doc in documents:
                try:
                    cluster.apply(doc)
                except ApiError as exc:
                    print(f"transit-operator sandbox: {doc['kind']} {doc['metadata'].get('name')}: {exc.message}",
                          file=sys.stderr)
                    return 1

            kubeconfig = kube.write_kubeconfig(cloud.dir / "kubeconfig")
            print(f"Kubernetes API: {kube.url} ({kube.description})   ARM: {cloud.arm_url}   "
                  f"Databricks: {cloud.databricks_url or '-'}\n"
                  f"Watch along:    export KUBECONFIG={kubeconfig}; kubectl get cpl,sxt -A -w", file=out, flush=True)

            context = CloudContext.for_sandbox(cloud.arm_url, cloud.ca_bundle, cloud.token, cloud.databricks_url or None)
            context.read_secret = kubernetes_secret_reader(str(kubeconfig))  # what `run` reads Secrets with
            runtime = Runtime(context, reconcilers or Reconcilers.load(), **sandbox_runtime_settings(cloud, args, out))
            settings = build_settings(standalone=True)

            def attach() -> int:
                nonlocal data_path
                data_path, status = run_data_path(cloud, executor, documents, out)
                return status

            return asyncio.run(_run(runtime, settings, cluster, str(kubeconfig), args, out,
                                    attach if args.dataplane else None))
    finally:
        kube.stop()
        if data_path is not None:
            data_path.close()
        close = getattr(executor, "close", None)
        if close is not None:
            close()  # NetnsExecutor: remove the instances' network namespaces, also on Ctrl-C


async def _when_ready(cluster: Cluster, attach: Any) -> int:
    """Once every CR is Ready, `attach()` (the data path) in a thread; its status."""
    while True:
        objects = [obj for kind in KINDS for obj in await asyncio.to_thread(cluster.list_objects, API_VERSION, kind)]
        table = rows(objects)
        if table and all(row[2] == "True" for row in table):
            return int(await asyncio.to_thread(attach))
        await asyncio.sleep(0.5)


async def _run(runtime: Runtime, settings: Any, cluster: Cluster, kubeconfig: str, args: argparse.Namespace,
               out: TextIO, attach: Any = None) -> int:
    operator = asyncio.create_task(operate(runtime, settings, kubeconfig=kubeconfig))
    watcher = asyncio.create_task(watch_table(cluster, args.until_ready, args.timeout, out))
    tasks = {operator, watcher}
    data = asyncio.create_task(_when_ready(cluster, attach)) if attach is not None else None
    try:
        done, _ = await asyncio.wait({operator, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:
            status = watcher.result()
            if status == 0 and data is not None:
                status = await data
            return status
        operator.result()  # the operator stopped on its own (a signal): surface its error, if any
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
    finally:
        if data is not None:
            tasks.add(data)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

"""`transit-operator diagnose`: the data-path diagnosis of one ServerlessTransit, printed in a terminal.

The same diagnosis the `transit.privatelink.io/diagnose` annotation makes the operator run
(`reconcile.transit.diagnosis`), from this machine: the object comes from the cluster (`-n NS NAME`, through
`--kubeconfig`) or from a file (`-f FILE`, e.g. `kubectl get serverlesstransit NAME -o yaml`: its status
names the NCC rule and the backend IPs); its ConfluentPrivateLink from the same file when it is there, else
from the cluster; the cloud through the flags `run` takes (`--arm-endpoint`, `--ca-bundle`, ...), the
Databricks credentials from the Secret the spec names. Nothing is written anywhere: not the cloud, not the
object's status.

Exit code: 0 when every hop is healthy, 1 when a hop is broken (the first one is named), 3 when a hop could
not be read and none is broken.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

from transit_operator.api.status import dump_status
from transit_operator.api.v1alpha1 import API_VERSION, GROUP, VERSION
from transit_operator.reconcile.outcome import Outcome

__all__ = ["add_diagnose_arguments", "print_diagnosis", "run_diagnose"]

EXIT = {"True": 0, "False": 1, "Unknown": 3}

Reader = Callable[[str, str, str], "dict[str, Any] | None"]  # plural, namespace, name -> object


def add_diagnose_arguments(parser: argparse.ArgumentParser) -> None:
    from transit_operator.runtime.options import add_cloud_arguments

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--filename", metavar="FILE",
                        help="YAML with the ServerlessTransit (and optionally its ConfluentPrivateLink); '-' for stdin")
    source.add_argument("name", nargs="?", help="the ServerlessTransit's name in the cluster (with -n)")
    parser.add_argument("-n", "--namespace", default="default", help="its namespace (default: default)")
    parser.add_argument("-o", "--output", choices=["text", "yaml", "json"], default="text")
    add_cloud_arguments(parser)


def _documents(path: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def _cluster_reader(kubeconfig: str | None) -> Reader:
    import kubernetes

    from transit_operator.runtime.main import kube_api_client

    api = kubernetes.client.CustomObjectsApi(kube_api_client(kubeconfig))

    def read(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    return read


def _objects(args: argparse.Namespace, read: Reader) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The ServerlessTransit and its ConfluentPrivateLink (None when it does not exist)."""
    if args.filename:
        documents = _documents(args.filename)
        transits = [d for d in documents if d.get("kind") == "ServerlessTransit" and d.get("apiVersion") == API_VERSION]
        if len(transits) != 1:
            raise SystemExit(f"{args.filename}: expected one ServerlessTransit, found {len(transits)}")
        body = transits[0]
    else:
        found = read("serverlesstransits", args.namespace, args.name)
        if found is None:
            raise SystemExit(f"ServerlessTransit {args.namespace}/{args.name} not found")
        body = found
    namespace = (body.get("metadata") or {}).get("namespace") or args.namespace
    ref = ((body.get("spec") or {}).get("confluentPrivateLinkRef") or {}).get("name")
    if args.filename:
        for document in _documents(args.filename):
            if document.get("kind") == "ConfluentPrivateLink" and (document.get("metadata") or {}).get("name") == ref:
                return body, document
    return body, read("confluentprivatelinks", namespace, ref) if ref else None


def print_diagnosis(status: Mapping[str, Any], name: str, output: str, out: TextIO) -> int:
    """Print `status.diagnosis` and DataPathHealthy of a diagnosed status; the exit code."""
    diagnosis = status.get("diagnosis") or {}
    condition: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "DataPathHealthy"), {}
    )
    code = EXIT.get(str(condition.get("status")), 3)
    if output == "json":
        out.write(json.dumps({"diagnosis": diagnosis, "dataPathHealthy": dict(condition)}, indent=2) + "\n")
        return code
    if output == "yaml":
        out.write(yaml.safe_dump({"diagnosis": diagnosis, "dataPathHealthy": dict(condition)}, sort_keys=False))
        return code
    out.write(f"ServerlessTransit {name}: data path diagnosed at {diagnosis.get('time', '-')}\n")
    width = max((len(h["hop"]) for h in diagnosis.get("hops") or []), default=4)
    for hop in diagnosis.get("hops") or []:
        out.write(f"  {hop['hop']:<{width}}  {hop['verdict']:<10}  {hop.get('message', '')}\n")
    first = diagnosis.get("firstBrokenHop")
    verdict = {0: "healthy", 1: f"broken at {first}", 3: "unknown"}[code]
    out.write(f"DataPathHealthy={condition.get('status', 'Unknown')}: {verdict}\n")
    return code


def diagnose_objects(body: dict[str, Any], cpl: dict[str, Any] | None, cloud: Any) -> Outcome:
    from transit_operator.reconcile import transit

    return transit.diagnose(body, cpl, cloud, trigger="command")


def run_diagnose(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """`transit-operator diagnose`."""
    from transit_operator.cloud.context import CloudContext
    from transit_operator.runtime.main import kubernetes_secret_reader

    read = _cluster_reader(args.kubeconfig)
    body, cpl = _objects(args, read)
    cloud = CloudContext.from_options(args)
    cloud.read_secret = kubernetes_secret_reader(args.kubeconfig)
    outcome = diagnose_objects(body, cpl, cloud)
    meta = body.get("metadata") or {}
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    return print_diagnosis(dump_status(outcome.status), name, args.output, out or sys.stdout)

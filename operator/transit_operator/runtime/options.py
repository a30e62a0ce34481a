"""Flags of `transit-operator run` (the Helm chart passes these; keep them in step with charts/)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import random

# kopf pauses an operator when it sees a peer of higher *or equal* priority, so replicas sharing one
# priority would all stand still. Each replica draws its own from a range wide enough that two replicas
# practically never draw the same (and if they did, a restart of either draws again).
PRIORITY_RANGE = (1, 2**31 - 1)


# kopf's default keep-alive lifetime is 60 s. A replica killed without a goodbye (SIGKILL, a lost node) keeps
# its standbys paused until its last keep-alive is `lifetime` old, and kopf refreshes it every lifetime
# minus 5-10 s (`kopf/_core/engines/peering.py` keepalive): a hand-over takes between 5 s and the lifetime.
# 15 s keeps that short (bench/ha_handover.py measures it) for one status PATCH every 5-10 s per replica.
DEFAULT_PEERING_LIFETIME = 15


def random_priority() -> int:
    return random.randint(*PRIORITY_RANGE)


ARM_TOKEN_ENV = "TRANSIT_ARM_TOKEN"  # cloud.context reads the same name


def _time_scale(value: str) -> float:
    scale = float(value)
    if not 0 < scale <= 100:
        raise argparse.ArgumentTypeError(f"--time-scale must be in (0, 100], got {value}")
    return scale


def _bind_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bind-address must be an IP address, got {value!r}") from None


def add_timing_arguments(parser: argparse.ArgumentParser, *, operator: bool = False) -> None:
    """`--timing` and `--time-scale` of `emulator` and `sandbox` (`transit_sandbox.timing`)."""
    parser.add_argument("--timing", choices=["fast", "realistic"], default="fast",
                        help="how long the sandbox cloud's operations take: fast (milliseconds, the default) or "
                             "realistic (Azure's and Databricks' own durations, times --time-scale)")
    scaled = " and the operator's own waits (as `run --time-scale`)" if operator else ""
    parser.add_argument("--time-scale", type=_time_scale, default=1.0, metavar="F",
                        help=f"with --timing realistic: multiply the cloud's durations{scaled} by F, e.g. 0.05 "
                             "for 1/20 speed (a ratio measured so holds at full speed)")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=None,
                       help="watch only this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    parser.add_argument("--health-port", type=int, default=8080, help="liveness/readiness on /healthz")
    parser.add_argument("--metrics-port", type=int, default=9090, help="Prometheus metrics on /metrics (0: off)")
    parser.add_argument("--bind-address", type=_bind_address, default="0.0.0.0",
                        help="address the health and metrics ports listen on (default 0.0.0.0: every interface, "
                             "as probes and scrapes reach a pod's IP; 127.0.0.1 keeps them local)")
    parser.add_argument("--max-workers", type=int, default=8, help="objects reconciled at once")
    parser.add_argument("--peering", default="transit-operator",
                        help="kopf peering name (mandatory peering: the ClusterKopfPeering for all namespaces, "
                             "else a KopfPeering in each watched namespace, must exist); only the replica "
                             "with the highest priority acts, the others stand by")
    parser.add_argument("--peering-priority", type=int, default=None,
                        help="this replica's peering priority (default: random in 1..2^31-1, so every "
                             "replica has its own; equal priorities would pause each other)")
    parser.add_argument("--peering-lifetime", type=int, default=DEFAULT_PEERING_LIFETIME,
                        help="seconds a replica's peering keep-alive stays valid; a standby takes over at most "
                             "this long after the active replica dies without leaving the peering")
    parser.add_argument("--no-peering", action="store_true", help="standalone (single replica)")
    add_cloud_arguments(parser)


def add_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """How to reach the cloud and the cluster: the flags `run` and `diagnose` share."""
    parser.add_argument("--time-scale", type=_time_scale, default=1.0, metavar="F",
                        help="multiply every delay the operator uses (requeues, SDK polling, backoff and its cap, "
                             "drift checks) by F; 1 for Azure, e.g. 0.01 for the sandbox cloud whose operations "
                             "take milliseconds")
    parser.add_argument("--arm-endpoint", default=None,
                        help="Azure Resource Manager base URL (default: public cloud; the sandbox sets its own)")
    parser.add_argument("--arm-token", default=os.environ.get(ARM_TOKEN_ENV), metavar="TOKEN",
                        help=f"a static bearer token for --arm-endpoint (the sandbox cloud's); default "
                             f"${ARM_TOKEN_ENV}, which keeps it out of the process list. Ignored without "
                             "--arm-endpoint: then azure-identity's DefaultAzureCredential (workload identity)")
    parser.add_argument("--ca-bundle", default=None, help="CA bundle for the ARM/Databricks endpoints")
    parser.add_argument("--databricks-host", default=None,
                        help="override every CR's Databricks account host (sandbox)")
    parser.add_argument("--allow-databricks-host", action="append", default=[], metavar="HOST[:PORT]",
                        help="also send Databricks credentials to this host (repeatable). By default only the "
                             "Databricks account hosts (accounts.azuredatabricks.net, accounts.databricks.azure.us, "
                             "accounts.databricks.azure.cn) get them, whatever a CR's spec.databricks.accountHost "
                             "says")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: in-cluster, then ~/.kube)")

"""`transit-operator run`: kopf settings from the flags (`runtime.options`), then the operator loop."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import kopf

from transit_operator.api.kinds import GROUP
from transit_operator.cloud.errors import SecretUnreadable
from transit_operator.cloud.redact import install_log_redaction
from transit_operator.runtime.driver import REQUEUE_PREFIX, Reconcilers, Runtime
from transit_operator.runtime.handlers import FINALIZE_HANDLER, FINALIZER, build_registry
from transit_operator.runtime.metrics import Metrics
from transit_operator.runtime.options import DEFAULT_PEERING_LIFETIME, random_priority

# A drift pass normally takes well under a second against Azure; the chart gives the pod 30 s to stop.
TIMER_EXIT_SECONDS = 10.0
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def build_settings(*, max_workers: int = 8, peering: str = "transit-operator", standalone: bool = False,
                   priority: int | None = None,
                   peering_lifetime: int = DEFAULT_PEERING_LIFETIME) -> kopf.OperatorSettings:
    """kopf settings shared by `run` and the sandbox.

    Peering: `standalone` (the sandbox, `--no-peering`) or mandatory on the peering object `peering`
    (the chart creates it; `operate` makes it the ClusterKopfPeering when watching all namespaces, a
    KopfPeering per namespace otherwise). Each replica has its own `priority` (default: random): kopf
    pauses a replica seeing a peer of higher or equal priority, so only the highest one acts.
    `peering_lifetime`: see `runtime.options.DEFAULT_PEERING_LIFETIME`.
    """
    settings = kopf.OperatorSettings()
    settings.execution.max_workers = max_workers
    # Events come from Outcome.events and the driver's catch-all (kopf.event). kopf's own log lines are
    # not posted: it logs every requeue (TemporaryError) at ERROR, which would flood `kubectl describe`.
    settings.posting.level = logging.CRITICAL
    settings.posting.reporting_component = "transit-operator"
    settings.peering.name = peering
    settings.peering.standalone = standalone
    settings.peering.mandatory = not standalone
    settings.peering.priority = priority if priority is not None else random_priority()
    settings.peering.lifetime = peering_lifetime
    # Progress and the diff base in annotations only: the default also writes `status.kopf`, which our
    # CRDs' status schema would prune (and which `kubectl get -o yaml` users should not see).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = FINALIZER
    # On exit (and when peering pauses the operator, or an object is deleted) kopf stops each drift timer
    # and gives it only 10 event-loop cycles before logging "Timer 'drift' did not exit in time" and
    # orphaning it (kopf 1.45, _core/engines/daemons.py stop_daemon). A timer in the middle of a pass runs
    # in a worker thread that no cycle can stop; wait for the pass to end instead.
    settings.background.instant_exit_timeout = TIMER_EXIT_SECONDS
    return settings


class RequeueIsNotAnError(logging.Filter):
    """kopf logs every `TemporaryError` at ERROR ("Handler 'X' failed temporarily: ..."). The driver's
    requeues (`driver.requeue_message`) are the normal wait for the cloud: a reconcile requeue becomes
    DEBUG, and a finalizer waiting for cloud deletes becomes an INFO line saying so (progress a user
    deleting an object wants to see). A reconciler's exception stays an ERROR."""

    _REQUEUE = re.compile(rf"^(Handler '(?P<handler>[^']+)') failed temporarily: {REQUEUE_PREFIX}"
                          r"(?P<delay>\S+)(?:: (?P<waiting>.*))?$", re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        match = self._REQUEUE.match(record.getMessage())
        if match is None:
            return True
        if match["handler"] == FINALIZE_HANDLER and match["waiting"]:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = f"{match[1]} is waiting: {match['waiting']}; again in {match['delay']}", ()
        else:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


# azure-core's HttpLoggingPolicy logs every request and response, headers included, at INFO (redacting
# only the headers it knows). That is DEBUG material: below `--log-level debug` this logger says only
# warnings and errors.
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


def configure_logging(log_format: str, log_level: str) -> None:
    kopf.configure(log_format=kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL,
                   verbose=log_level == "debug", debug=log_level == "debug")
    logging.getLogger().setLevel(_LEVELS[log_level])
    logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.DEBUG if log_level == "debug" else logging.WARNING)
    install_log_redaction()
    objects = logging.getLogger("kopf.objects")
    if not any(isinstance(f, RequeueIsNotAnError) for f in objects.filters):
        objects.addFilter(RequeueIsNotAnError())


async def operate(runtime: Runtime, settings: kopf.OperatorSettings, *, namespaces: Collection[str] = (),
                  kubeconfig: str | None = None, health_port: int | None = None,
                  bind_address: str = "0.0.0.0", stop_flag: Any = None, ready_flag: Any = None) -> None:
    """Run the operator in the current event loop until `stop_flag` (or a signal). Every log record of the
    process is scrubbed of credentials from here on (`cloud.redact.install_log_redaction`)."""
    install_log_redaction()
    registry = build_registry(runtime, kubeconfig=kubeconfig)
    await kopf.operator(
        # Peering comes from `settings` (name, priority, mandatory/standalone); kopf sets its
        # `clusterwide` from this argument: the ClusterKopfPeering when watching every namespace.
        registry=registry, settings=settings, clusterwide=not namespaces, namespaces=list(namespaces),
        liveness_endpoint=f"http://{_host(bind_address)}:{health_port}/healthz" if health_port else None,
        stop_flag=stop_flag, ready_flag=ready_flag)


def _host(address: str) -> str:
    """An IP address as the host part of a URL (IPv6 in brackets)."""
    return f"[{address}]" if ":" in address else address


def decode_secret(secret: Mapping[str, Any] | None) -> dict[str, str | bytes] | None:
    """A Secret object's `data` (base64) as text where it is UTF-8, else bytes (the credentials check names
    the key), or None."""
    if secret is None:
        return None
    out: dict[str, str | bytes] = {}
    for key, value in (secret.get("data") or {}).items():
        raw = base64.b64decode(value)
        try:
            out[key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out[key] = raw
    return out


def kube_api_client(kubeconfig: str | None) -> Any:
    """A `kubernetes.client.ApiClient` of its own: the `kubeconfig` file when given (as the login does), else
    in-cluster, else `$KUBECONFIG`/~/.kube/config; never the process-wide default configuration."""
    import kubernetes

    if kubeconfig is None:
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return kubernetes.client.ApiClient(configuration)
        except kubernetes.config.ConfigException:
            return kubernetes.config.new_client_from_config()
    return kubernetes.config.new_client_from_config(config_file=kubeconfig)


def kubernetes_secret_reader(kubeconfig: str | None) -> Callable[[str, str], dict[str, str | bytes] | None]:
    """`CloudContext.read_secret` through the `kubernetes` client: the `kubeconfig` file when given (as the
    login does), else in-cluster, else `$KUBECONFIG`/~/.kube/config. Its own client configuration, never
    the process-wide default, so two operators in one process (tests) each read their own cluster. A
    Secret the API server will not hand over (403, 5xx) is `SecretUnreadable`: the object waits for it."""
    import kubernetes

    core = kubernetes.client.CoreV1Api(kube_api_client(kubeconfig))

    def read_secret(namespace: str, name: str) -> dict[str, str | bytes] | None:
        try:
            secret = core.read_namespaced_secret(name, namespace)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise SecretUnreadable(f"HTTP {exc.status} {exc.reason}") from None
        except (OSError, ValueError) as exc:  # urllib3/network trouble
            raise SecretUnreadable(type(exc).__name__) from None
        return decode_secret({"data": secret.data})

    return read_secret


def run_operator(args: argparse.Namespace) -> int:
    """`transit-operator run`."""
    from transit_operator.cloud.context import CloudContext

    configure_logging(args.log_format, args.log_level)
    metrics = Metrics()
    if args.metrics_port:
        metrics.serve(args.metrics_port, addr=args.bind_address)
    cloud = CloudContext.from_options(args)
    cloud.read_secret = kubernetes_secret_reader(args.kubeconfig)
    runtime = Runtime(cloud, Reconcilers.load(), metrics, time_scale=args.time_scale)
    cloud.preload()  # before the health endpoint answers: a pod is Ready once it can reconcile at once
    settings = build_settings(max_workers=args.max_workers, peering=args.peering, standalone=args.no_peering,
                              priority=args.peering_priority, peering_lifetime=args.peering_lifetime)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(operate(runtime, settings, namespaces=args.namespace or (), kubeconfig=args.kubeconfig,
                            health_port=args.health_port, bind_address=args.bind_address))
    return 0

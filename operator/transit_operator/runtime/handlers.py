"""kopf registration, and nothing else: every handler hands over to `runtime.driver.Runtime`.

Handlers go into an explicit `kopf.OperatorRegistry` built per operator (never kopf's global default
registry), so importing this module twice, or running two operators in one test process, registers
nothing twice.

Per kind of `api.kinds` (`confluentprivatelinks`, `serverlesstransits` in `transit.privatelink.io/v1alpha1`):
- one level-based reconcile registered on `resume`, `create` and `update` of `spec` (status-only and
  metadata-only changes do not trigger it);
- a `timer` whose handler waits for the object's turn (`Runtime.turn`: a requeue or drift check due, a
  cross-object kick) and then passes over it in a thread;
- `delete` (kopf adds its finalizer) calling `finalize` until it reports `done`.
ServerlessTransit also has a handler on its `transit.privatelink.io/diagnose` annotation (`Runtime.diagnose`).
Plus two indexes: ConfluentPrivateLink bodies by (namespace, name), and ServerlessTransit names by the
ConfluentPrivateLink they reference; and an `event` handler that kicks transits on a CPL status change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from transit_operator.api.kinds import CONFLUENT_PRIVATE_LINK, GROUP, SERVERLESS_TRANSIT, VERSION
from transit_operator.runtime.driver import CONFLUENT, TIMER_INTERVAL, TRANSIT, Runtime, plain

CONFLUENT_PLURAL = CONFLUENT_PRIVATE_LINK.plural
TRANSIT_PLURAL = SERVERLESS_TRANSIT.plural
FINALIZER = f"{GROUP}/finalizer"
FINALIZE_HANDLER = "finalize"  # the delete handlers' id: kopf names them so in its log lines
DIAGNOSE_ANNOTATION = f"{GROUP}/diagnose"  # any new value: one diagnosis of the data path (docs/troubleshooting.md)


def _confluent_of(body: kopf.Body, confluent_private_links: kopf.Index[Any, Any]) -> dict[str, Any] | None:
    ref = ((body.get("spec") or {}).get("confluentPrivateLinkRef") or {}).get("name")
    store = confluent_private_links.get((body.metadata.namespace, ref)) if ref else None
    return next(iter(store), None) if store is not None else None


def login_with_kubeconfig_file(path: str, settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    """kopf's credentials from one kubeconfig file, read by the `kubernetes` client's loader (the same
    one the Secret reader uses; kopf's own `login_with_kubeconfig` reads only `$KUBECONFIG`, a process-wide
    setting). Token, client certificate or basic auth, as the file's current context says."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=configuration, persist_config=False)
    return _connection_info(configuration, settings)


def login_in_cluster(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo | None:
    """The pod's service account, found as client-go's `rest.InClusterConfig` and the Secret reader find it:
    the API server at `$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (the kubelet sets both in every
    container), the token and `ca.crt` the kubelet mounts under /var/run/secrets/kubernetes.io/serviceaccount.
    None outside a pod. kopf's own `login_with_service_account` dials `https://kubernetes.default.svc`
    whatever the variables say, which needs cluster DNS and port 443. kopf logs in again after a 401,
    and so re-reads the token the kubelet rotates."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        return None
    return _connection_info(configuration, settings)


def _connection_info(configuration: Any, settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    """A `kubernetes.client.Configuration` as kopf's credentials."""
    header = (configuration.get_api_key_with_prefix("BearerToken")
              or configuration.get_api_key_with_prefix("authorization") or "")
    scheme, _, token = header.rpartition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host, ca_path=configuration.ssl_ca_cert, insecure=not configuration.verify_ssl,
        username=configuration.username or None, password=configuration.password or None,
        scheme=scheme or None, token=token or None,
        certificate_path=configuration.cert_file, private_key_path=configuration.key_file,
        trust_env=settings.networking.trust_env)


def build_registry(runtime: Runtime, *, kubeconfig: str | None = None) -> kopf.OperatorRegistry:
    """All handlers of the operator. `kubeconfig`: log in with this file (`run --kubeconfig`, the sandbox,
    the tests); otherwise the in-cluster service account, then `$KUBECONFIG` or ~/.kube/config."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(settings: kopf.OperatorSettings, **kwargs: Any) -> kopf.ConnectionInfo | None:
        if kubeconfig is not None:
            return login_with_kubeconfig_file(kubeconfig, settings)
        return login_in_cluster(settings) or kopf.login_with_kubeconfig(settings=settings, **kwargs)

    # ------------------------------------------------------------------------------------ indexes

    # The ids are the kwarg names under which kopf hands the indexes to every handler.
    @kopf.index(GROUP, VERSION, CONFLUENT_PLURAL, id="confluent_private_links", registry=registry)
    def confluent_private_links(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): plain(body)}

    @kopf.index(GROUP, VERSION, TRANSIT_PLURAL, id="transits_by_confluent_private_link", registry=registry)
    def transits_by_confluent_private_link(namespace: str | None, name: str, spec: kopf.Spec,
                                           **_: Any) -> dict[Any, Any] | None:
        ref = (spec.get("confluentPrivateLinkRef") or {}).get("name")
        return {(namespace, ref): name} if ref else None

    # ------------------------------------------------------------------------ ConfluentPrivateLink

    @kopf.on.resume(GROUP, VERSION, CONFLUENT_PLURAL, id="reconcile", registry=registry)
    @kopf.on.create(GROUP, VERSION, CONFLUENT_PLURAL, id="reconcile", registry=registry)
    @kopf.on.update(GROUP, VERSION, CONFLUENT_PLURAL, id="reconcile", field="spec", registry=registry)
    def reconcile_confluent(body: kopf.Body, patch: kopf.Patch, logger: Any, retry: int, **_: Any) -> None:
        runtime.reconcile(CONFLUENT, body, patch, logger, retry=retry)

    @kopf.timer(GROUP, VERSION, CONFLUENT_PLURAL, id="drift", interval=TIMER_INTERVAL,
                initial_delay=runtime.tick_seconds, registry=registry)
    async def tick_confluent(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
        stopped = kwargs["stopped"]  # kopf's flag: the object is deleted or the operator exits
        await runtime.turn(CONFLUENT, body, stopped)
        if stopped:
            return
        await asyncio.to_thread(runtime.tick, CONFLUENT, body, patch, logger)

    @kopf.on.delete(GROUP, VERSION, CONFLUENT_PLURAL, id=FINALIZE_HANDLER, registry=registry)
    def finalize_confluent(body: kopf.Body, patch: kopf.Patch, logger: Any, retry: int, **_: Any) -> None:
        runtime.finalize(CONFLUENT, body, patch, logger, retry=retry)

    @kopf.on.event(GROUP, VERSION, CONFLUENT_PLURAL, id="kick-transits", registry=registry)
    def confluent_changed(namespace: str | None, name: str, body: kopf.Body, type: str, **kwargs: Any) -> None:
        transits: kopf.Index[Any, Any] = kwargs["transits_by_confluent_private_link"]
        names = list(transits.get((namespace, name), []))
        runtime.confluent_changed(namespace or "", name, body, type, names)

    # --------------------------------------------------------------------------- ServerlessTransit

    @kopf.on.resume(GROUP, VERSION, TRANSIT_PLURAL, id="reconcile", registry=registry)
    @kopf.on.create(GROUP, VERSION, TRANSIT_PLURAL, id="reconcile", registry=registry)
    @kopf.on.update(GROUP, VERSION, TRANSIT_PLURAL, id="reconcile", field="spec", registry=registry)
    def reconcile_transit(body: kopf.Body, patch: kopf.Patch, logger: Any, retry: int, **kwargs: Any) -> None:
        runtime.reconcile(TRANSIT, body, patch, logger, retry=retry,
                          confluent=_confluent_of(body, kwargs["confluent_private_links"]))

    @kopf.timer(GROUP, VERSION, TRANSIT_PLURAL, id="drift", interval=TIMER_INTERVAL,
                initial_delay=runtime.tick_seconds, registry=registry)
    async def tick_transit(body: kopf.Body, patch: kopf.Patch, logger: Any, **kwargs: Any) -> None:
        stopped = kwargs["stopped"]
        await runtime.turn(TRANSIT, body, stopped)
        if stopped:
            return
        confluent = _confluent_of(body, kwargs["confluent_private_links"])  # after the wait: the fresh one
        await asyncio.to_thread(runtime.tick, TRANSIT, body, patch, logger, confluent=confluent)

    # An event handler, not a change handler: kopf leaves annotations under its own storage prefix (ours,
    # GROUP) out of the diff base, so `on.field`/`on.update` never see this one change. The driver answers
    # each value once.
    @kopf.on.event(GROUP, VERSION, TRANSIT_PLURAL, id="diagnose", annotations={DIAGNOSE_ANNOTATION: kopf.PRESENT},
                   registry=registry)
    def diagnose_transit(body: kopf.Body, patch: kopf.Patch, logger: Any, type: str | None, **kwargs: Any) -> None:
        if type != "DELETED" and not body.metadata.get("deletionTimestamp"):
            runtime.diagnose(body, patch, logger, request=str(body.metadata.annotations[DIAGNOSE_ANNOTATION]),
                             confluent=_confluent_of(body, kwargs["confluent_private_links"]))

    @kopf.on.delete(GROUP, VERSION, TRANSIT_PLURAL, id=FINALIZE_HANDLER, registry=registry)
    def finalize_transit(body: kopf.Body, patch: kopf.Patch, logger: Any, retry: int, **_: Any) -> None:
        runtime.finalize(TRANSIT, body, patch, logger, retry=retry)

    return registry

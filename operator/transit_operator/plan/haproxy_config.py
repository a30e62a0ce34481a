"""HAProxy on the transit VMSS (option haproxy): `haproxy.cfg`, the apply script, cloud-init. Pure text.

Each VMSS instance runs HAProxy in TCP mode behind a Standard Load Balancer fronted by a Private Link
Service. HAProxy never terminates TLS (it is end to end between the Kafka client and Confluent); it reads
the SNI from the ClientHello (`req.ssl_sni`) and forwards the connection to the customer's private endpoint
for the Confluent zone the broker lives in:

    <anything>.az2.<domain>           -> zone az2's endpoint (other zones' endpoints as `backup` servers)
    <label>-az2-<net>.<glb domain>    -> the same, for glb names (CHASED_PRIVATE networks; api.hostnames)
    <anything>.<domain>               -> all zones' endpoints (bootstrap, zone-less names)
    <label>-<net>.<glb domain>        -> all zones' endpoints (the glb bootstrap)
    bootstrap_host                    -> all zones' endpoints (even when it lies outside <domain>)
    anything else / not TLS           -> rejected, never forwarded

Three builders and one parser live here, with no I/O, clock or environment:

- `render_haproxy_config` -> the `haproxy.cfg` text (deterministic: same input, same bytes);
- `config_hash` -> the short content hash the apply script and the operator compare;
- `render_apply_script` -> the bash lines sent with VMSS run-command `RunShellScript` (the config reaches
  it only as run-command parameters, which Azure exposes as environment variables);
- `render_cloud_init` -> `#cloud-config` for the VMSS model's customData (new and reimaged instances);
- `parse_apply_result` -> reads the one result line back from run-command output.

Why run-command *and* customData: customData only reaches instances created after a model change
(docs/platform-rules.md#run-command), so live instances get the config through run-command.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import yaml

from transit_operator.api.hostnames import glb_suffix

__all__ = [
    "APPLY_SCRIPT_PATH",
    "CHECKS_PER_MINUTE",
    "CONFIG_PATH",
    "DEFAULT_HEALTH_PORT",
    "HEALTH_URI",
    "OLD_SESSIONS_MAX_S",
    "STATS_SOCKET",
    "STATUS_MAP",
    "STATUS_URI",
    "ApplyResult",
    "BackendHealth",
    "ServerHealth",
    "ZoneBackend",
    "config_hash",
    "parse_apply_result",
    "parse_backend_health",
    "render_apply_script",
    "render_backend_health_script",
    "render_cloud_init",
    "render_haproxy_config",
]

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
PID_FILE = "/run/haproxy.pid"
STATS_SOCKET = "/run/haproxy/admin.sock"
APPLY_SCRIPT_PATH = "/usr/local/sbin/transit-apply-haproxy"
HEALTH_URI = "/healthz"
DEFAULT_HEALTH_PORT = 8404  # HAProxy's stats/monitor port by convention
RESULT_PREFIX = "TRANSIT_APPLY"

# Private Link (PLS) drops idle flows after ~4-5 minutes and no setting raises it
# (docs/platform-rules.md#idle-timeouts): keepalives on both sides must start well before 240 s of idleness.
KEEPALIVE_IDLE_S = 60
_KEEPALIVE_INTERVAL_S = 20
_KEEPALIVE_COUNT = 3
# Kafka clients keep connections open and idle for minutes (connections.max.idle.ms defaults to 9 min).
_KAFKA_IDLE_TIMEOUT = "30m"
# After a reload, old workers keep serving their connections; this bounds how long (the clients reconnect).
_HARD_STOP_AFTER = "30s"
# Health checks of the zones' private endpoints (issue 19), HAProxy's own: each instance checks each
# endpoint once per port - the servers of `bk_all_<port>` carry the check, every other server line of the
# same endpoint `track`s it. The check is a TLS handshake with the bootstrap name as SNI (`check-ssl
# check-sni`; the certificate is not verified: it proves that Confluent's SNI proxy and a broker answer
# TLS for this cluster through this endpoint; Kafka traffic itself is passed through, never terminated):
# every 5 s while the state holds (12 handshakes a minute per endpoint and instance), every 1 s while a
# change is being confirmed; down after 2 failures, up after 2 successes. A server marked down has its
# sessions shut down, so that clients reconnect (through the zone's backups) instead of waiting on a dead
# endpoint until their request timeout.
_CHECK_TIMING = "inter 5s fastinter 1s downinter 5s fall 2 rise 2"
CHECKS_PER_MINUTE = 12  # per endpoint, port and instance, while the state holds
_ON_DOWN = "on-marked-down shutdown-sessions"
# The applied config's hash for the status endpoint: haproxy.cfg cannot hold its own hash, so the apply
# script keeps it in this map (read by `map()` at start and reload, set through the stats socket when it
# changes servers at runtime).
STATUS_MAP = "/etc/haproxy/transit-status.map"
STATUS_URI = "/status"

_ZONE_RE = re.compile(r"^az[1-9][0-9]?$")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DNS_NAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")
_HASH_LEN = 16
# An endpoint IP change moved at runtime (the apply script's `updated-at-runtime`): sessions still on the
# old address are cut once it stops answering a TCP connect (probed every 0.2 s, 0.3 s to answer: inside
# a VNet an answer takes about a millisecond), or after this long at the latest - longer than a rollout
# wave of run commands, so that a client cut then reconnects through an instance already switched.
OLD_SESSIONS_MAX_S = 300
_OLD_ADDRESS_PROBE_EVERY_S = 0.2
_OLD_ADDRESS_PROBE_TIMEOUT_S = 0.3


@dataclass(frozen=True)
class ZoneBackend:
    """One Confluent zone as seen from the customer VNet: its private endpoint's IP, once known."""

    zone: str  # "az1", "az2", "az3": the zonal DNS label Confluent uses (`*.az1.<domain>`)
    endpoint_ip: str | None  # the private endpoint's IPv4 address; None while Azure has not assigned it


def _dns_name(field: str, value: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a DNS name, got {type(value).__name__}")
    name = value.lower()
    if len(name) > 253 or not _DNS_NAME_RE.fullmatch(name):
        raise ValueError(f"{field}: {value!r} is not a DNS name (letters, digits, '-', at least two labels)")
    return name


def _port(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{field}: {value!r} is not a TCP port (1-65535)")
    return value


def _ipv4(field: str, value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError) as exc:
        raise ValueError(f"{field}: {value!r} is not an IPv4 address") from exc


def _validate_zones(zones: Sequence[ZoneBackend]) -> list[tuple[str, str]]:
    """Zones with an endpoint IP, sorted by zone name (so input order does not change the output)."""
    seen: set[str] = set()
    known: list[tuple[str, str]] = []
    for i, zone in enumerate(zones):
        if not isinstance(zone, ZoneBackend):
            raise ValueError(f"zones[{i}]: expected a ZoneBackend, got {type(zone).__name__}")
        if not isinstance(zone.zone, str) or not _ZONE_RE.fullmatch(zone.zone):
            raise ValueError(f"zones[{i}].zone: {zone.zone!r} is not a zone label like 'az1'")
        if zone.zone in seen:
            raise ValueError(f"zones[{i}].zone: {zone.zone!r} appears twice")
        seen.add(zone.zone)
        if zone.endpoint_ip is not None:
            known.append((zone.zone, _ipv4(f"zones[{i}].endpoint_ip", zone.endpoint_ip)))
    return sorted(known)


def render_haproxy_config(
    *,
    domain: str,
    bootstrap_host: str | None,
    zones: Sequence[ZoneBackend],
    ports: Sequence[int],
    health_port: int = DEFAULT_HEALTH_PORT,
    keepalive_idle_s: int = KEEPALIVE_IDLE_S,
    status_port: int | None = None,
) -> str:
    """The `haproxy.cfg` of every transit instance.

    `domain` is the Confluent network's DNS domain (`<network-id>.<region>.azure.confluent.cloud`);
    `bootstrap_host` the cluster's bootstrap name (usually inside `domain`; routed to all zones either way);
    `zones` the per-zone endpoints (zones without an IP yet are left out); `ports` the Kafka ports to
    listen on and forward to (9092); `health_port` serves `GET /healthz` for the load balancer probe;
    `keepalive_idle_s` is when TCP keepalives start on an idle connection (both sides; below the Private
    Link idle timeout), repeated every 20 s or `keepalive_idle_s`, whichever is shorter; `status_port`,
    when given, serves `GET /status` (`spec.haproxy.statusEndpoint`): small JSON with the instance's host
    name, the applied config hash and each zone's server state as HAProxy sees it.

    With no endpoint IP at all the config is still valid (`haproxy -c` passes, the LB probe fails) and
    every Kafka connection is rejected. Raises ValueError naming the offending field. Deterministic:
    zones are sorted by name and ports numerically, so the same facts always give the same bytes (and
    the same `config_hash`, which is what makes re-applying a no-op).
    """
    domain = _dns_name("domain", domain)
    bootstrap = None if bootstrap_host is None else _dns_name("bootstrap_host", bootstrap_host)
    known = _validate_zones(zones)
    if isinstance(ports, (str, bytes)) or not ports:
        raise ValueError("ports: at least one port is needed")
    port_list = sorted({_port(f"ports[{i}]", p) for i, p in enumerate(ports)})
    if len(port_list) != len(ports):
        raise ValueError("ports: a port appears twice")
    health_port = _port("health_port", health_port)
    if isinstance(keepalive_idle_s, bool) or not isinstance(keepalive_idle_s, int) or not 1 <= keepalive_idle_s < 240:
        raise ValueError(f"keepalive_idle_s: {keepalive_idle_s!r} is not 1-239 seconds")
    # After the first probe of an idle connection, Linux sends the next ones every interval (the ACK of a
    # probe is no data): the interval, too, must stay below the Private Link idle timeout.
    keepalive_interval_s = min(_KEEPALIVE_INTERVAL_S, keepalive_idle_s)
    glb = glb_suffix(domain)
    if health_port in port_list:
        raise ValueError(f"health_port: {health_port} is also a Kafka port")
    if status_port is not None:
        status_port = _port("status_port", status_port)
        if status_port in port_list or status_port == health_port:
            raise ValueError(f"status_port: {status_port} is also a Kafka port or the health port")

    out: list[str] = [
        "# Generated by transit-operator: do not edit, the operator overwrites this file.",
        f"# domain: {domain}",
        f"# bootstrap: {bootstrap or '-'}",
        "# zones: " + (", ".join(f"{z}={ip}" for z, ip in known) or "none with an endpoint IP yet"),
        "",
        "global",
        "    log /dev/log local0",
        "    user haproxy",
        "    group haproxy",
        # Run in master-worker mode from the command line (`haproxy -W -D`); no `daemon` here.
        "    # master-worker mode comes from the command line (haproxy -W -D -p /run/haproxy.pid)",
        f"    stats socket {STATS_SOCKET} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        f"    hard-stop-after {_HARD_STOP_AFTER}",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option dontlognull",
        "    timeout connect 5s",
        f"    timeout client {_KAFKA_IDLE_TIMEOUT}",
        f"    timeout server {_KAFKA_IDLE_TIMEOUT}",
        "    timeout client-fin 30s",
        "    timeout server-fin 30s",
        "    timeout check 3s",
        "    # Forward with splice(2) when the kernel can: fewer copies through user space per hop.",
        "    option splice-auto",
        "    # TCP keepalives on both sides well inside the ~240 s Private Link idle timeout",
        "    option clitcpka",
        f"    clitcpka-idle {keepalive_idle_s}s",
        f"    clitcpka-intvl {keepalive_interval_s}s",
        f"    clitcpka-cnt {_KEEPALIVE_COUNT}",
        "    option srvtcpka",
        f"    srvtcpka-idle {keepalive_idle_s}s",
        f"    srvtcpka-intvl {keepalive_interval_s}s",
        f"    srvtcpka-cnt {_KEEPALIVE_COUNT}",
        "",
        "# Load balancer probe (from 168.63.129.16): 200 while some endpoint is healthy, 503 otherwise.",
        "frontend health",
        "    mode http",
        f"    bind :{health_port}",
        "    timeout client 10s",
        f"    monitor-uri {HEALTH_URI}",
        f"    monitor fail if {{ nbsrv(bk_all_{port_list[0]}) lt 1 }}",
    ]
    for port in port_list:
        out += ["", f"frontend kafka_{port}", f"    bind :{port}", "    tcp-request inspect-delay 5s"]
        if not known:
            out += ["    # No endpoint IP is known yet: no servers, every connection is rejected."]
            out += ["    tcp-request content reject"]
        out += [
            "    acl tls_hello req.ssl_hello_type 1",
            f"    acl sni_in_domain req.ssl_sni -i -m end .{domain}",
            f"    acl sni_glb req.ssl_sni -i -m end -- {glb}",
        ]
        if bootstrap is not None:
            out += [f"    acl sni_bootstrap req.ssl_sni -i {bootstrap}"]
        unknown_sni = "!sni_in_domain !sni_glb" + (" !sni_bootstrap" if bootstrap is not None else "")
        out += [
            "    # Unknown SNI (outside the domain) is rejected, not forwarded; so is anything but TLS.",
            f"    tcp-request content reject if tls_hello {unknown_sni}",
            "    tcp-request content accept if tls_hello",
            "    tcp-request content reject",
        ]
        for zone, _ip in known:
            out += [f"    use_backend bk_{zone}_{port} if {{ req.ssl_sni -i -m end .{zone}.{domain} }}"]
            out += [f"    use_backend bk_{zone}_{port} if {{ req.ssl_sni -i -m end -- -{zone}{glb} }}"]
        out += [f"    use_backend bk_all_{port} if sni_in_domain or sni_glb"]
        if bootstrap is not None:
            out += [f"    use_backend bk_all_{port} if sni_bootstrap"]
        for zone, ip in known:
            # The zone's own endpoint first; the others as backups, rotated so that the fallback load of
            # a down zone does not always land on the same neighbour.
            i = [z for z, _ in known].index(zone)
            others = known[i + 1 :] + known[:i]
            out += ["", f"backend bk_{zone}_{port}"]
            out += [f"    server {zone} {ip}:{port} track bk_all_{port}/{zone} {_ON_DOWN}"]
            out += [f"    server {oz} {oip}:{port} track bk_all_{port}/{oz} {_ON_DOWN} backup" for oz, oip in others]
        # The checks: a TLS hello with the bootstrap name (a plain TCP connect when it is not known).
        check = f"check check-ssl check-sni {bootstrap} verify none" if bootstrap is not None else "check"
        out += ["", f"backend bk_all_{port}", "    balance roundrobin"]
        out += [f"    server {zone} {ip}:{port} {check} {_CHECK_TIMING} {_ON_DOWN}" for zone, ip in known]
    if status_port is not None:
        out += ["", *_status_frontend(status_port, known, port_list)]
    return "\n".join(out) + "\n"


def _status_frontend(status_port: int, known: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[str]:
    """`GET /status` as one `http-request return` of a log-format string: the host name (`hostname`), the
    applied config hash (`STATUS_MAP`) and per zone and port `UP`/`DOWN` (`srv_is_up` of the checked
    server). HAProxy's own view, no script or Lua on the request path."""
    zones = ",".join(
        f'\\"{zone}\\":{{'
        + ",".join(f'\\"{port}\\":\\"%[srv_is_up(bk_all_{port}/{zone}),iif(UP,DOWN)]\\"' for port in ports)
        + "}"
        for zone, _ip in known
    )
    body = (
        '{\\"instance\\":\\"%[hostname]\\",'
        f'\\"configHash\\":\\"%[str(configHash),map({STATUS_MAP},unknown)]\\",'
        f'\\"zones\\":{{{zones}}}}}'
    )
    return [
        "# Troubleshooting from a Databricks notebook (spec.haproxy.statusEndpoint): this instance, the config",
        "# hash it runs and each zone's server state as HAProxy sees it, through the NCC endpoint and the LB.",
        "frontend transit_status",
        "    mode http",
        f"    bind :{status_port}",
        "    timeout client 10s",
        f'    http-request return status 200 content-type application/json lf-string "{body}" '
        f"if {{ path {STATUS_URI} }} METH_GET",
        f'    http-request return status 404 content-type application/json string "{{\\"error\\":\\"GET {STATUS_URI}\\"}}"',
    ]


def config_hash(config: str) -> str:
    """First 16 hex characters of the SHA-256 of the config's UTF-8 bytes.

    64 bits are plenty to tell two configs of one transit apart; the apply script recomputes it with
    `sha256sum | cut -c1-16`, so both sides must keep this length.
    """
    return hashlib.sha256(config.encode("utf-8")).hexdigest()[:_HASH_LEN]


# The apply script. Inputs arrive only as environment variables (run-command parameters); they are
# validated and never interpolated into shell code. It always ends by printing exactly one result line:
# action run-command returns no exit code and only the last ~4 KB of output (platform rule 14).
_APPLY_SCRIPT = r"""#!/bin/bash
# transit-apply-haproxy: apply a haproxy.cfg given as CONFIG_B64 (base64) and CONFIG_HASH (hex).
# Generated by transit-operator. Prints exactly one line:
#   TRANSIT_APPLY result=<applied|unchanged|invalid|failed> hash=<hash> detail=<short>
# detail of `applied`: started | reloaded | updated-at-runtime (only server addresses changed: set on
# the running worker through the stats socket, no reload; sessions on an old address are cut once it
# stops answering).
set -euo pipefail
umask 022
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CFG=@CONFIG_PATH@
PREV=@CONFIG_PATH@.prev
PIDFILE=@PID_FILE@
MAP=@STATUS_MAP@
SOCK=@STATS_SOCKET@
HASH_LEN=@HASH_LEN@
OUT_HASH=-
ACTION=-
TMP=
DONE=0
finish() {
  # finish <result> <detail> <exit code>
  local detail
  detail=$(printf '%s' "$2" | tr -c 'A-Za-z0-9._:/=,+@-' ' ' | tr -s ' ' | cut -c1-160)
  printf 'TRANSIT_APPLY result=%s hash=%s detail=%s\n' "$1" "$OUT_HASH" "${detail:--}"
  DONE=1
  exit "$3"
}
on_exit() {
  local rc=$?
  if [ -n "$TMP" ]; then rm -f -- "$TMP"; fi
  if [ "$DONE" = 0 ]; then
    printf 'TRANSIT_APPLY result=failed hash=%s detail=unexpected-error-rc-%s\n' "$OUT_HASH" "$rc"
    exit 1
  fi
}
trap on_exit EXIT
file_hash() { sha256sum -- "$1" | cut -c1-"$HASH_LEN"; }
# The hash of the config HAProxy runs, for its status endpoint (haproxy.cfg cannot hold its own hash).
status_map() { printf 'configHash %s\n' "$1" >"$MAP.tmp" && mv -f -- "$MAP.tmp" "$MAP"; }
master_pid() {
  local pid
  [ -s "$PIDFILE" ] || return 1
  pid=$(head -n1 -- "$PIDFILE")
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}
workers() { pgrep -P "$1" 2>/dev/null | sort -n | tr '\n' ' ' || true; }
# wait_new_worker <master pid> <old workers>: a worker that did not exist before appeared (the master
# re-executed with the new file and started it); a failed reload keeps only the old workers.
wait_new_worker() {
  local i w
  for i in $(seq 1 30); do
    kill -0 "$1" 2>/dev/null || return 1
    for w in $(workers "$1"); do
      case " $2 " in *" $w "*) ;; *) return 0 ;; esac
    done
    sleep 0.2
  done
  return 1
}
# start_or_reload: hitless reload of a running master (USR2), or start one; then verify.
start_or_reload() {
  local pid old
  if pid=$(master_pid); then
    ACTION=reloaded
    old=$(workers "$pid")
    kill -USR2 "$pid"
    wait_new_worker "$pid" "$old"
  else
    ACTION=started
    rm -f -- "$PIDFILE"
    haproxy -W -D -p "$PIDFILE" -f "$CFG" >/dev/null 2>&1 || return 1
    sleep 0.2
    pid=$(master_pid) || return 1
    wait_new_worker "$pid" ""
  fi
}
# An endpoint IP change only moves servers: `set server <backend>/<server> addr` on the running worker
# (HAProxy management guide, runtime API): new connections go to the new address at once, and the
# sessions still on the old address keep working while it answers. They are cut once, when the old
# address stops answering (or after OLD_SESSIONS_MAX_S), by a small detached watcher: a client cut then
# reconnects through an instance that already routes to the new address. Cutting them at the switch
# instead (`shutdown sessions server`) cut a client again when its reconnection hashed onto an instance
# not switched yet, and librdkafka doubles its reconnect backoff on every connection attempt until
# 10 s pass without one (bench/README.md: seconds of stall). A reload would leave those sessions with
# the old workers until hard-stop-after.
server_addresses() { awk '/^backend /{b=$2} /^ *server /{print b "/" $2, $3}' "$1" | sort; }
without_addresses() { sed -E -e 's/^( *server [^ ]+ )[^ ]+/\1-/' -e '/^# zones:/d' "$1"; }
haproxy_cli() {
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    out += chunk
sys.stdout.write(out.decode(errors="replace"))' "$SOCK" "$1"
}
# cut_when_gone <ip:port>...: probe each old address (a TCP connect every PROBE_EVERY_S, PROBE_TIMEOUT_S
# to answer); when one does not answer, or OLD_SESSIONS_MAX_S have passed, shut down the sessions whose
# server connection goes to it (`show sess all`, `shutdown session`). Detached from the run command: a
# transient systemd unit on a VM, setsid elsewhere.
OLD_SESSIONS_MAX_S=@OLD_SESSIONS_MAX_S@
PROBE_EVERY_S=@PROBE_EVERY_S@
PROBE_TIMEOUT_S=@PROBE_TIMEOUT_S@
CUTTER='import socket, sys, time
sock, every, timeout, most = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
old = set(sys.argv[5:])
def cli(command):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sock); s.sendall(command.encode() + b"\n")
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out.decode(errors="replace")
def answers(address):
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
        return True
    except OSError:
        return False
def cut(addresses):
    streams, current = [], None
    for line in cli("show sess all").splitlines():
        if line.startswith("0x") and ": [" in line:
            current = line.split(":", 1)[0]
        elif current and line.lstrip().startswith("server=") and line.rsplit("addr=", 1)[-1].strip() in addresses:
            streams.append(current)
    for i in range(0, len(streams), 50):
        cli("; ".join("shutdown session " + s for s in streams[i:i + 50]))
end = time.monotonic() + most
while old:
    gone = {a for a in old if time.monotonic() >= end or not answers(a)}
    if gone:
        try:
            cut(gone)
        except OSError:
            pass
        old -= gone
    time.sleep(every)'
cut_when_gone() {
  local args=("$SOCK" "$PROBE_EVERY_S" "$PROBE_TIMEOUT_S" "$OLD_SESSIONS_MAX_S" "$@")
  if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
    systemd-run --quiet --collect python3 -c "$CUTTER" "${args[@]}" >/dev/null 2>&1 && return 0
  fi
  setsid python3 -c "$CUTTER" "${args[@]}" </dev/null >/dev/null 2>&1 &
}
runtime_update() {
  local changes cmds="" srv addr out
  [ -f "$CFG" ] && [ -S "$SOCK" ] && master_pid >/dev/null || return 1
  command -v python3 >/dev/null 2>&1 || return 1
  [ "$(without_addresses "$CFG")" = "$(without_addresses "$TMP")" ] || return 1
  changes=$(join <(server_addresses "$CFG") <(server_addresses "$TMP") | awk '$2 != $3 {print $1, $3, $2}')
  [ -n "$changes" ] || return 1
  while read -r srv addr _; do
    cmds+="set server $srv addr ${addr%:*} port ${addr##*:}; "
  done <<<"$changes"
  out=$(haproxy_cli "$cmds") || return 1
  # One answer line per server ("IP changed from ..."); anything else (unknown server...) means reload.
  if [ "$(printf '%s\n' "$out" | grep -c 'changed from')" -ne "$(printf '%s\n' "$changes" | wc -l)" ]; then
    return 1
  fi
  # shellcheck disable=SC2046 # one argument per old address
  cut_when_gone $(printf '%s\n' "$changes" | awk '{print $3}' | sort -u)
}

CONFIG_B64=${CONFIG_B64:-}
CONFIG_HASH=${CONFIG_HASH:-}
if ! [[ $CONFIG_HASH =~ ^[0-9a-f]+$ ]] || [ "${#CONFIG_HASH}" -ne "$HASH_LEN" ]; then
  finish invalid "CONFIG_HASH is not $HASH_LEN lowercase hex characters" 2
fi
OUT_HASH=$CONFIG_HASH
if ! [[ $CONFIG_B64 =~ ^[A-Za-z0-9+/]+={0,2}$ ]] || [ $(( ${#CONFIG_B64} % 4 )) -ne 0 ]; then
  finish invalid "CONFIG_B64 is not base64" 2
fi
mkdir -p /etc/haproxy /run/haproxy
TMP=$(mktemp /etc/haproxy/.haproxy.cfg.XXXXXX)
if ! printf '%s' "$CONFIG_B64" | base64 -d >"$TMP" 2>/dev/null; then
  finish invalid "CONFIG_B64 does not decode" 2
fi
if [ "$(file_hash "$TMP")" != "$CONFIG_HASH" ]; then
  finish invalid "decoded config does not match CONFIG_HASH" 2
fi
if [ -f "$CFG" ] && [ "$(file_hash "$CFG")" = "$CONFIG_HASH" ]; then
  if master_pid >/dev/null; then
    finish unchanged "already-applied" 0
  fi
  status_map "$CONFIG_HASH"
  if start_or_reload; then finish applied "started" 0; fi
  finish failed "haproxy did not start with the current config" 1
fi
if [ ! -f "$MAP" ]; then status_map -; fi  # `haproxy -c` loads the maps a config names
if ! check=$(haproxy -c -q -f "$TMP" 2>&1); then
  finish invalid "haproxy -c: $(printf '%s' "$check" | grep -m1 -E 'ALERT|rror' || printf '%s' "$check" | head -n1)" 2
fi
chmod 0644 "$TMP"
if runtime_update; then
  mv -f -- "$TMP" "$CFG"
  TMP=
  status_map "$CONFIG_HASH"
  haproxy_cli "set map $MAP configHash $CONFIG_HASH" >/dev/null 2>&1 || true  # no map loaded: no status endpoint
  finish applied "updated-at-runtime" 0
fi
HAD_PREV=0
if [ -f "$CFG" ]; then cp -p -- "$CFG" "$PREV"; HAD_PREV=1; fi
mv -f -- "$TMP" "$CFG"
TMP=
status_map "$CONFIG_HASH"
if start_or_reload; then
  finish applied "$ACTION" 0
fi
if [ "$HAD_PREV" = 1 ]; then
  mv -f -- "$PREV" "$CFG"
  status_map "$(file_hash "$CFG")"
  if start_or_reload; then
    finish failed "new config did not load; rolled back to the previous config" 1
  fi
  finish failed "new config did not load; rollback did not load either" 1
fi
finish failed "haproxy did not start with the new config" 1
"""


def _filled(template: str, values: dict[str, str]) -> list[str]:
    """A script template's lines with each `@NAME@` placeholder replaced by its value."""
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template.splitlines()


def render_apply_script() -> list[str]:
    """The lines of the apply script, for run-command `RunShellScript` (`script: [...]`).

    Parameters (environment variables): `CONFIG_B64` (the base64 of `haproxy.cfg`) and `CONFIG_HASH`
    (`config_hash` of it). The script validates both, decodes to a temp file in /etc/haproxy, checks the
    hash, does nothing when `haproxy.cfg` already has that hash and HAProxy runs, runs `haproxy -c`.
    When the new file differs from the running one only in server addresses (an endpoint IP change), it
    sets them on the running worker through the stats socket (new connections go to the new addresses)
    and renames the file in place: no reload (`detail=updated-at-runtime`); a detached watcher cuts the
    sessions still on an old address once it stops answering, or after `OLD_SESSIONS_MAX_S`, so that a
    client is cut at most once per change and reconnects through switched instances. Otherwise it
    renames atomically, starts HAProxy in master-worker mode or reloads it with USR2 (old workers drain),
    verifies a new worker came up and rolls back to the previous file otherwise. Exit status 0 on
    `applied`/`unchanged`, 2 on `invalid`, 1 on `failed`; the last stdout line is the result line.
    The same text is installed at `APPLY_SCRIPT_PATH` by cloud-init.
    """
    values = {
        "@HASH_LEN@": str(_HASH_LEN),
        "@STATS_SOCKET@": STATS_SOCKET,
        "@CONFIG_PATH@": CONFIG_PATH,
        "@PID_FILE@": PID_FILE,
        "@STATUS_MAP@": STATUS_MAP,
        "@OLD_SESSIONS_MAX_S@": str(OLD_SESSIONS_MAX_S),
        "@PROBE_EVERY_S@": str(_OLD_ADDRESS_PROBE_EVERY_S),
        "@PROBE_TIMEOUT_S@": str(_OLD_ADDRESS_PROBE_TIMEOUT_S),
    }
    return _filled(_APPLY_SCRIPT, values)


ApplyOutcome = Literal["applied", "unchanged", "invalid", "failed", "unknown"]

_RESULT_RE = re.compile(
    rf"^{RESULT_PREFIX} result=(applied|unchanged|invalid|failed) hash=([0-9a-f]+|-) detail=(.*?)\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ApplyResult:
    """What the apply script reported. `unknown`: no result line survived (truncated, never ran)."""

    result: ApplyOutcome
    hash: str | None  # the CONFIG_HASH the script was given; None when it was invalid or unknown
    detail: str

    @property
    def ok(self) -> bool:
        return self.result in ("applied", "unchanged")


def _stdout_of(output: str) -> str:
    """The stdout part of run-command output: plain stdout, or Azure's action run-command message
    (`Enable succeeded: \\n[stdout]\\n...\\n[stderr]\\n...`), possibly cut to its last 4 KB. Nothing on
    stderr can fake a result line."""
    text = output.replace("\r\n", "\n")
    stdout_at = text.rfind("[stdout]\n")
    stderr_at = text.rfind("\n[stderr]\n")
    if stdout_at >= 0:
        end = stderr_at if stderr_at > stdout_at else len(text)
        return text[stdout_at + len("[stdout]\n") : end]
    if stderr_at >= 0:
        return text[:stderr_at]
    return text


def parse_apply_result(output: str) -> ApplyResult:
    """Find the apply script's result line in run-command output (plain stdout or Azure's message, see
    `_stdout_of`). The last complete result line in the stdout part wins; a line cut at its start is
    ignored.
    """
    text = _stdout_of(output)
    matches = list(_RESULT_RE.finditer(text))
    if not matches:
        tail = " ".join(text.split())[-200:]
        return ApplyResult("unknown", None, f"no {RESULT_PREFIX} line in output: {tail}" if tail else "")
    m = matches[-1]
    result: ApplyOutcome = m.group(1)  # type: ignore[assignment]
    return ApplyResult(result, None if m.group(2) == "-" else m.group(2), m.group(3))


# The backend health script (issue 19): read-only, for a managed run command on any instance, e.g. after a
# rollout or on demand. Its output stays far below run-command's 4 KB (one ~110-byte line per endpoint and
# port, at most _HEALTH_MAX_SERVERS of them, then the result line).
HEALTH_PREFIX = "TRANSIT_HEALTH"
_HEALTH_MAX_SERVERS = 30
_HEALTH_SCRIPT = r"""#!/bin/bash
# transit-haproxy-health: what HAProxy on this instance sees of the Confluent endpoints. Read-only.
# Generated by transit-operator. Prints one line per endpoint and port (the server HAProxy checks), then
#   TRANSIT_HEALTH result=<healthy|degraded|down|unknown> hash=<config hash|-> instance=<host name>
#                  up=<n> down=<n> mismatched=<n> detail=<short>
# mismatched: servers of the same endpoint (zone backends, backups) with another address than the
# checked one. Exit 0 when HAProxy answered, 1 when it could not be asked.
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CFG=@CONFIG_PATH@
SOCK=@STATS_SOCKET@
HASH=-
if [ -f "$CFG" ]; then HASH=$(sha256sum -- "$CFG" | cut -c1-@HASH_LEN@); fi
HOST=$(hostname 2>/dev/null | tr -c 'A-Za-z0-9.\n-' '-' | cut -c1-63)
if ! command -v python3 >/dev/null 2>&1; then
  printf 'TRANSIT_HEALTH result=unknown hash=%s instance=%s up=0 down=0 mismatched=0 detail=no-python3\n' \
    "$HASH" "${HOST:--}"
  exit 1
fi
SUMMARY='import csv, socket, sys
sock, digest, host, most = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def result(state, up=0, down=0, mismatched=0, detail="-"):
    print(f"TRANSIT_HEALTH result={state} hash={digest} instance={host} up={up} down={down} "
          f"mismatched={mismatched} detail={detail}")
try:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(sock)
    s.sendall(b"show stat\n")
    out = b""
    while chunk := s.recv(65536):
        out += chunk
except OSError as exc:
    result("unknown", detail="haproxy-not-answering:" + type(exc).__name__)
    sys.exit(1)
checked, others = {}, []
for row in csv.DictReader(out.decode(errors="replace").lstrip("# ").splitlines()):
    proxy, server = row.get("pxname") or "", row.get("svname") or ""
    if server in ("FRONTEND", "BACKEND") or not proxy.startswith("bk_"):
        continue
    port = proxy.rsplit("_", 1)[-1]
    if proxy.startswith("bk_all_"):
        checked[(server, port)] = row
    else:
        others.append(((server, port), row))
up = down = 0
for n, ((zone, port), row) in enumerate(sorted(checked.items())):
    state = "-".join((row.get("status") or "-").split())
    if state.startswith("UP"):
        up += 1
    else:
        down += 1
    if n < most:
        addr, took, since = (row.get(k) or "-" for k in ("addr", "check_duration", "lastchg"))
        check = "-".join((row.get("check_status") or "-").replace("* ", "").split())
        print(f"TRANSIT_SERVER zone={zone} port={port} addr={addr} state={state} check={check} check_ms={took} "
              f"since_s={since}")
mismatched = sum(1 for key, row in others if key in checked and row.get("addr") != checked[key].get("addr"))
state = "unknown" if not checked else "healthy" if not down else "down" if not up else "degraded"
detail = "no-servers" if not checked else "truncated" if len(checked) > most else "-"
result(state, up, down, mismatched, detail)'
python3 -c "$SUMMARY" "$SOCK" "$HASH" "${HOST:--}" @MAX_SERVERS@
"""


def render_backend_health_script() -> list[str]:
    """The lines of the backend health script, for a (managed) run command `RunShellScript`: read-only.

    It asks the instance's HAProxy (stats socket, `show stat`) for its view of each Confluent endpoint -
    the servers of `bk_all_<port>`, which carry the health checks - and prints one `TRANSIT_SERVER` line
    per endpoint and port (zone, address, state, last check result and duration, seconds since the last
    state change), then one `TRANSIT_HEALTH` result line: `healthy` (every endpoint up), `degraded`,
    `down` (none up) or `unknown` (HAProxy did not answer: exit 1), with the hash of the config file
    on the instance, its host name and how many other servers of an endpoint disagree with the checked
    one's address. No parameters; the output stays far below run-command's 4 KB.
    `parse_backend_health` reads it back.
    """
    values = {
        "@CONFIG_PATH@": CONFIG_PATH,
        "@STATS_SOCKET@": STATS_SOCKET,
        "@HASH_LEN@": str(_HASH_LEN),
        "@MAX_SERVERS@": str(_HEALTH_MAX_SERVERS),
    }
    return _filled(_HEALTH_SCRIPT, values)


HealthOutcome = Literal["healthy", "degraded", "down", "unknown"]

_SERVER_RE = re.compile(
    r"^TRANSIT_SERVER zone=(az[0-9]+) port=([0-9]+) addr=(\S+) state=(\S+) check=(\S+) check_ms=(\S+) "
    r"since_s=(\S+)\s*$",
    re.MULTILINE,
)
_HEALTH_RE = re.compile(
    rf"^{HEALTH_PREFIX} result=(healthy|degraded|down|unknown) hash=([0-9a-f]+|-) instance=(\S+) "
    r"up=([0-9]+) down=([0-9]+) mismatched=([0-9]+) detail=(.*?)\s*$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class ServerHealth:
    """One Confluent endpoint (zone and port) as HAProxy on one instance sees it."""

    zone: str
    port: int
    address: str  # `ip:port` HAProxy connects to
    state: str  # HAProxy's status: UP, DOWN, `UP-1/2` (going down), `DOWN-1/2` (coming up), MAINT, ...
    check: str  # the last check's result: L6OK (TLS answered), L4TOUT, L4CON (refused), L6RSP, ...
    check_ms: int | None  # how long the last check took
    since_s: int | None  # seconds since the state last changed

    @property
    def up(self) -> bool:
        return self.state.startswith("UP")


@dataclass(frozen=True)
class BackendHealth:
    """What the backend health script reported for one instance. `unknown` with no servers: no result line
    survived, or HAProxy did not answer (`detail` says which)."""

    result: HealthOutcome
    config_hash: str | None  # hash of haproxy.cfg on the instance (None: no file)
    instance: str | None  # the instance's host name
    servers: tuple[ServerHealth, ...]
    mismatched: int
    detail: str

    @property
    def down(self) -> list[ServerHealth]:
        return [s for s in self.servers if not s.up]


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_backend_health(output: str) -> BackendHealth:
    """Read the backend health script's output back (plain stdout or Azure's run-command message). The
    last result line wins, with the server lines printed before it."""
    text = _stdout_of(output)
    results = list(_HEALTH_RE.finditer(text))
    if not results:
        tail = " ".join(text.split())[-200:]
        return BackendHealth("unknown", None, None, (), 0, f"no {HEALTH_PREFIX} line in output: {tail}")
    last = results[-1]
    start = results[-2].end() if len(results) > 1 else 0
    servers = tuple(
        ServerHealth(
            zone=m.group(1),
            port=int(m.group(2)),
            address=m.group(3),
            state=m.group(4),
            check=m.group(5),
            check_ms=_int_or_none(m.group(6)),
            since_s=_int_or_none(m.group(7)),
        )
        for m in _SERVER_RE.finditer(text, start, last.start())
    )
    outcome: HealthOutcome = last.group(1)  # type: ignore[assignment]
    digest = None if last.group(2) == "-" else last.group(2)
    instance = None if last.group(3) == "-" else last.group(3)
    return BackendHealth(outcome, digest, instance, servers, int(last.group(6)), last.group(7))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def render_cloud_init(*, config: str, apply_script: Sequence[str]) -> str:
    """`#cloud-config` for the VMSS model's customData (base64 it for the ARM body).

    Installs HAProxy, writes `haproxy.cfg` and the apply script (base64 content, so no YAML quoting
    surprises), then runs the apply script with CONFIG_B64/CONFIG_HASH read back from the written file:
    HAProxy starts in master-worker mode with the pid file the script reloads through. If the Debian
    package's systemd unit already started HAProxy, it uses the same pid file (`/run/haproxy.pid`) and
    reload signal (USR2), so the two agree. Deterministic.
    """
    digest = config_hash(config)
    script = "\n".join(apply_script) + "\n"
    doc = {
        "package_update": True,
        "packages": ["haproxy"],
        "write_files": [
            {
                "path": CONFIG_PATH,
                "owner": "root:root",
                "permissions": "0644",
                "encoding": "b64",
                "content": _b64(config),
            },
            {
                "path": APPLY_SCRIPT_PATH,
                "owner": "root:root",
                "permissions": "0755",
                "encoding": "b64",
                "content": _b64(script),
            },
        ],
        "runcmd": [
            # digest is validated hex (config_hash), so quoting it is belt and braces.
            f'CONFIG_HASH={shlex.quote(digest)} CONFIG_B64="$(base64 -w0 {CONFIG_PATH})" {APPLY_SCRIPT_PATH}',
        ],
    }
    return "#cloud-config\n" + _dump_yaml(doc)


# libyaml's emitter when PyYAML was built with it: the pure-Python one spends ~13 ms per transit on the
# base64 scalars, 95% of planning a haproxy transit on every pass (bench/memory.py). Both emit the same
# bytes for this document (tests/unit/test_haproxy_config.py), so the cloud-init hash does not depend on it.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump_yaml(doc: dict[str, object]) -> str:
    return yaml.dump(doc, Dumper=_YAML_DUMPER, sort_keys=False, default_flow_style=False, width=1_000_000)

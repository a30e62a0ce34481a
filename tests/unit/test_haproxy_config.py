"""haproxy.cfg, apply script and cloud-init builders (pure text), and the result-line parser."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from transit_operator.plan.haproxy_config import (
    APPLY_SCRIPT_PATH,
    CONFIG_PATH,
    STATUS_MAP,
    ApplyResult,
    BackendHealth,
    ServerHealth,
    ZoneBackend,
    config_hash,
    parse_apply_result,
    parse_backend_health,
    render_apply_script,
    render_backend_health_script,
    render_cloud_init,
    render_haproxy_config,
)

DOMAIN = "n1abc.westeurope.azure.confluent.cloud"
BOOTSTRAP = f"lkc-xyz.{DOMAIN}"
THREE = (ZoneBackend("az1", "10.0.1.4"), ZoneBackend("az2", "10.0.2.4"), ZoneBackend("az3", "10.0.3.4"))
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="the haproxy binary is not installed")


def render(**overrides: object) -> str:
    kwargs: dict[str, object] = {
        "domain": DOMAIN,
        "bootstrap_host": BOOTSTRAP,
        "zones": THREE,
        "ports": [9092],
    }
    kwargs.update(overrides)
    return render_haproxy_config(**kwargs)  # type: ignore[arg-type]


def backend(config: str, name: str) -> list[str]:
    lines = config.splitlines()
    start = lines.index(f"backend {name}")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    return body


CASES = [
    pytest.param({}, id="three-zones"),
    pytest.param({"zones": THREE[:1]}, id="one-zone"),
    pytest.param({"zones": (ZoneBackend("az1", "10.0.1.4"), ZoneBackend("az2", None))}, id="one-ip-missing"),
    pytest.param({"zones": (ZoneBackend("az1", None), ZoneBackend("az2", None))}, id="no-ip-at-all"),
    pytest.param({"zones": ()}, id="no-zones"),
    pytest.param({"bootstrap_host": None}, id="no-bootstrap"),
    pytest.param({"bootstrap_host": "bootstrap.other.example.com"}, id="bootstrap-outside-domain"),
    pytest.param({"ports": [9092, 9093], "health_port": 10000}, id="two-ports"),
    pytest.param({"status_port": 8080}, id="status-endpoint"),
    pytest.param({"ports": [9092, 9093], "status_port": 8080}, id="status-endpoint-two-ports"),
]


@needs_haproxy
@pytest.mark.parametrize("overrides", CASES)
def test_rendered_config_passes_haproxy_check(overrides: dict[str, object], tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    (tmp_path / "status.map").write_text("configHash -\n")  # the apply script keeps it on an instance
    cfg.write_text(render(**overrides).replace(STATUS_MAP, str(tmp_path / "status.map")))
    proc = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=20)  # type: ignore[list-item]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("zone", "primary", "backups"),
    [
        pytest.param("az1", "server az1 10.0.1.4:9092", ["az2", "az3"], id="az1"),
        pytest.param("az2", "server az2 10.0.2.4:9092", ["az3", "az1"], id="az2"),
        pytest.param("az3", "server az3 10.0.3.4:9092", ["az1", "az2"], id="az3"),
    ],
)
def test_zone_backend_has_its_endpoint_first_and_the_others_as_backups(
    zone: str, primary: str, backups: list[str]
) -> None:
    lines = backend(render(), f"bk_{zone}_9092")
    assert lines[0] == f"{primary} track bk_all_9092/{zone} on-marked-down shutdown-sessions"
    assert [line.split()[1] for line in lines[1:]] == backups
    assert all(line.endswith("backup") and "track bk_all_9092/" in line for line in lines[1:])


def test_each_endpoint_is_checked_once_per_port_with_a_tls_hello_and_every_other_server_tracks_it() -> None:
    config = render(ports=[9092, 9093])
    checks = [line.strip() for line in config.splitlines() if line.startswith("    server ") and " check " in line]
    assert len(checks) == 3 * 2  # zones x ports, on each instance
    assert all(line.startswith("server az") for line in checks)
    assert backend(config, "bk_all_9093")[1:] == [
        f"server az{i} 10.0.{i}.4:9093 check check-ssl check-sni {BOOTSTRAP} verify none "
        "inter 5s fastinter 1s downinter 5s fall 2 rise 2 on-marked-down shutdown-sessions"
        for i in (1, 2, 3)
    ]
    servers = [line.strip() for line in config.splitlines() if line.startswith("    server ")]
    assert all(" check " in line or " track bk_all_" in line for line in servers)


def test_without_a_bootstrap_name_the_check_is_a_tcp_connect() -> None:
    assert backend(render(bootstrap_host=None), "bk_all_9092")[1] == (
        "server az1 10.0.1.4:9092 check inter 5s fastinter 1s downinter 5s fall 2 rise 2 "
        "on-marked-down shutdown-sessions"
    )


def test_status_endpoint_answers_json_from_haproxys_own_view_only_when_asked() -> None:
    assert "frontend transit_status" not in render()
    config = render(ports=[9092, 9093], status_port=8080)
    status = backend_of(config, "frontend transit_status")
    assert "bind :8080" in status and "mode http" in status
    body = next(line for line in status if " if { path /status } METH_GET" in line)
    text = body.split('lf-string "', 1)[1].rsplit('" if', 1)[0].replace('\\"', '"')
    assert text.startswith('{"instance":"%[hostname]","configHash":"%[str(configHash),map(/etc/haproxy/')
    for zone in ("az1", "az2", "az3"):
        for port in (9092, 9093):
            assert f'"{port}":"%[srv_is_up(bk_all_{port}/{zone}),iif(UP,DOWN)]"' in text


def backend_of(config: str, header: str) -> list[str]:
    lines = config.splitlines()
    start = lines.index(header)
    return [line.strip() for line in lines[start + 1 :] if line.startswith("    ")][: len(lines)]


def test_sni_routing_rules() -> None:
    config = render()
    assert f"use_backend bk_az2_9092 if {{ req.ssl_sni -i -m end .az2.{DOMAIN} }}" in config
    assert f"acl sni_in_domain req.ssl_sni -i -m end .{DOMAIN}" in config
    assert f"acl sni_bootstrap req.ssl_sni -i {BOOTSTRAP}" in config
    assert "tcp-request content reject if tls_hello !sni_in_domain !sni_glb !sni_bootstrap" in config
    assert "tcp-request content accept if tls_hello" in config
    # glb names (CHASED_PRIVATE): the zone from the `-azN-` label, the network from `-<net>.`
    assert "acl sni_glb req.ssl_sni -i -m end -- -n1abc.westeurope.azure.glb.confluent.cloud" in config
    glb_az2 = "use_backend bk_az2_9092 if { req.ssl_sni -i -m end -- -az2-n1abc.westeurope.azure.glb.confluent.cloud }"
    assert glb_az2 in config
    assert "use_backend bk_all_9092 if sni_in_domain or sni_glb" in config
    # zonal rules come before the catch-all of the domain
    assert config.index("use_backend bk_az3_9092") < config.index("use_backend bk_all_9092")
    assert [line.split()[:3] for line in backend(config, "bk_all_9092")[1:]] == [
        ["server", f"az{i}", f"10.0.{i}.4:9092"] for i in (1, 2, 3)
    ]


@pytest.mark.parametrize(
    "needle",
    [
        pytest.param("    mode tcp", id="tcp-mode"),
        pytest.param("    tcp-request inspect-delay 5s", id="inspect-delay"),
        pytest.param("    option clitcpka", id="clitcpka"),
        pytest.param("    option srvtcpka", id="srvtcpka"),
        pytest.param("    option splice-auto", id="splice-auto"),
        pytest.param("    timeout client 30m", id="client-timeout"),
        pytest.param("    timeout server 30m", id="server-timeout"),
        pytest.param("    hard-stop-after 30s", id="hard-stop-after"),
        pytest.param("    stats socket /run/haproxy/admin.sock", id="stats-socket"),
        pytest.param("    monitor-uri /healthz", id="health-uri"),
        pytest.param("    bind :8404", id="health-port"),
    ],
)
def test_config_carries(needle: str) -> None:
    assert needle in render()


def test_keepalives_start_before_the_private_link_idle_timeout() -> None:
    values = {}
    for line in render().splitlines():
        parts = line.split()
        if parts and parts[0] in ("clitcpka-idle", "srvtcpka-idle"):
            values[parts[0]] = int(parts[1].rstrip("s"))
    assert set(values) == {"clitcpka-idle", "srvtcpka-idle"}
    assert all(v < 240 for v in values.values())


def test_no_daemon_keyword_so_master_worker_flags_rule() -> None:
    assert not any(line.strip() in ("daemon", "master-worker") for line in render().splitlines())


def test_missing_ips_leave_zones_out_and_no_ip_rejects_everything() -> None:
    partial = render(zones=(ZoneBackend("az1", "10.0.1.4"), ZoneBackend("az2", None)))
    assert "bk_az2_9092" not in partial and "server az2" not in partial
    empty = render(zones=(ZoneBackend("az1", None),))
    assert not any(line.startswith("    server ") for line in empty.splitlines())
    kafka = empty[empty.index("frontend kafka_9092") :]
    first_rule = next(line for line in kafka.splitlines() if "tcp-request content" in line)
    assert first_rule.strip() == "tcp-request content reject"
    assert "No endpoint IP is known yet" in empty


def test_same_input_gives_identical_bytes_whatever_the_order() -> None:
    a = render(zones=THREE, ports=[9093, 9092])
    b = render(zones=tuple(reversed(THREE)), ports=[9092, 9093])
    assert a == b == render(zones=list(THREE), ports=(9092, 9093))
    assert config_hash(a) == config_hash(b)
    assert render_cloud_init(config=a, apply_script=render_apply_script()) == render_cloud_init(
        config=b, apply_script=render_apply_script()
    )


def test_domain_is_lowercased() -> None:
    assert render(domain=DOMAIN.upper(), bootstrap_host=BOOTSTRAP.upper()) == render()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"domain": "bad domain"}, "domain", id="domain-space"),
        pytest.param({"domain": "single"}, "domain", id="domain-one-label"),
        pytest.param({"domain": "a.-b.com"}, "domain", id="domain-leading-hyphen"),
        pytest.param({"domain": "x.example.com; rm -rf /"}, "domain", id="domain-injection"),
        pytest.param({"domain": "*.example.com"}, "domain", id="domain-wildcard"),
        pytest.param({"bootstrap_host": "boot strap.example.com"}, "bootstrap_host", id="bootstrap"),
        pytest.param({"zones": (ZoneBackend("az1", "10.0.1.400"),)}, "zones[0].endpoint_ip", id="ip-range"),
        pytest.param({"zones": (ZoneBackend("az1", "10.0.1.4\n"),)}, "zones[0].endpoint_ip", id="ip-newline"),
        pytest.param({"zones": (ZoneBackend("az1", "fe80::1"),)}, "zones[0].endpoint_ip", id="ip-v6"),
        pytest.param({"zones": (ZoneBackend("zone1", "10.0.1.4"),)}, "zones[0].zone", id="zone-name"),
        pytest.param(
            {"zones": (ZoneBackend("az1", "10.0.1.4"), ZoneBackend("az1", "10.0.1.5"))},
            "zones[1].zone",
            id="zone-twice",
        ),
        pytest.param({"zones": ("az1",)}, "zones[0]", id="zone-not-dataclass"),
        pytest.param({"ports": []}, "ports", id="no-ports"),
        pytest.param({"ports": [0]}, "ports[0]", id="port-zero"),
        pytest.param({"ports": [9092, 70000]}, "ports[1]", id="port-too-big"),
        pytest.param({"ports": [True]}, "ports[0]", id="port-bool"),
        pytest.param({"ports": [9092, 9092]}, "ports", id="port-twice"),
        pytest.param({"health_port": 9092}, "health_port", id="health-port-clash"),
        pytest.param({"health_port": -1}, "health_port", id="health-port-range"),
        pytest.param({"status_port": 9092}, "status_port", id="status-port-kafka"),
        pytest.param({"status_port": 8404}, "status_port", id="status-port-health"),
        pytest.param({"status_port": 0}, "status_port", id="status-port-range"),
    ],
)
def test_invalid_input_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        render(**overrides)


def test_config_hash_is_16_hex_of_sha256() -> None:
    import hashlib

    assert config_hash("abc") == hashlib.sha256(b"abc").hexdigest()[:16]
    assert config_hash("abc") != config_hash("abd")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(
            "TRANSIT_APPLY result=applied hash=0123456789abcdef detail=reloaded\n",
            ApplyResult("applied", "0123456789abcdef", "reloaded"),
            id="plain",
        ),
        pytest.param(
            "Enable succeeded: \n[stdout]\nnoise\nTRANSIT_APPLY result=unchanged hash=0123456789abcdef "
            "detail=already-applied\n\n[stderr]\nTRANSIT_APPLY result=applied hash=ffffffffffffffff detail=x\n",
            ApplyResult("unchanged", "0123456789abcdef", "already-applied"),
            id="azure-wrapper-ignores-stderr",
        ),
        pytest.param(
            "Enable succeeded: \n[stdout]\nSIT_APPLY result=applied hash=0123456789abcdef detail=x\n[stderr]\n",
            ApplyResult(
                "unknown",
                None,
                "no TRANSIT_APPLY line in output: SIT_APPLY result=applied hash=0123456789abcdef detail=x",
            ),
            id="truncated-head",
        ),
        pytest.param(
            "TRANSIT_APPLY result=invalid hash=- detail=CONFIG_HASH is not 16 lowercase hex characters\r\n",
            ApplyResult("invalid", None, "CONFIG_HASH is not 16 lowercase hex characters"),
            id="invalid-hash-crlf",
        ),
        pytest.param(
            "TRANSIT_APPLY result=failed hash=0123456789abcdef detail=a\n"
            "TRANSIT_APPLY result=applied hash=0123456789abcdef detail=b\n",
            ApplyResult("applied", "0123456789abcdef", "b"),
            id="last-line-wins",
        ),
        pytest.param("", ApplyResult("unknown", None, ""), id="empty"),
        pytest.param(
            "TRANSIT_APPLY result=maybe hash=0123456789abcdef detail=x\n",
            ApplyResult(
                "unknown",
                None,
                "no TRANSIT_APPLY line in output: TRANSIT_APPLY result=maybe hash=0123456789abcdef detail=x",
            ),
            id="unknown-result",
        ),
    ],
)
def test_parse_apply_result(output: str, expected: ApplyResult) -> None:
    assert parse_apply_result(output) == expected


def test_apply_script_takes_inputs_only_from_the_environment() -> None:
    script = "\n".join(render_apply_script())
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script
    assert "eval" not in script
    assert "haproxy -W -D -p" in script and "kill -USR2" in script and "haproxy -c" in script
    assert render_apply_script() == render_apply_script()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_apply_script_is_valid_bash() -> None:
    proc = subprocess.run(
        ["bash", "-n"], input="\n".join(render_apply_script()), text=True, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("env", "detail"),
    [
        pytest.param({"CONFIG_B64": "AAAA"}, "CONFIG_HASH is not 16", id="no-hash"),
        pytest.param(
            {"CONFIG_B64": "AAAA", "CONFIG_HASH": "$(touch /tmp/x)"},
            "CONFIG_HASH is not 16",
            id="hash-injection",
        ),
        pytest.param(
            {"CONFIG_B64": "AAAA", "CONFIG_HASH": "0123456789ABCDEF"}, "CONFIG_HASH", id="hash-uppercase"
        ),
        pytest.param(
            {"CONFIG_B64": "a b;c", "CONFIG_HASH": "0123456789abcdef"},
            "CONFIG_B64 is not base64",
            id="b64-charset",
        ),
        pytest.param(
            {"CONFIG_B64": "AAA", "CONFIG_HASH": "0123456789abcdef"},
            "CONFIG_B64 is not base64",
            id="b64-length",
        ),
        pytest.param({"CONFIG_HASH": "0123456789abcdef"}, "CONFIG_B64 is not base64", id="no-config"),
    ],
)
def test_apply_script_rejects_bad_parameters_before_touching_anything(
    env: dict[str, str], detail: str
) -> None:
    # These cases fail validation before the script creates or reads any file.
    proc = subprocess.run(
        ["bash", "-c", "\n".join(render_apply_script())],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == 2
    result = parse_apply_result(proc.stdout)
    assert result.result == "invalid" and detail in result.detail, proc.stdout
    assert proc.stdout.count("TRANSIT_APPLY") == 1


def test_cloud_init_writes_config_and_script_and_runs_it() -> None:
    config = render()
    script = render_apply_script()
    text = render_cloud_init(config=config, apply_script=script)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["package_update"] is True and doc["packages"] == ["haproxy"]
    files = {f["path"]: f for f in doc["write_files"]}
    assert base64.b64decode(files[CONFIG_PATH]["content"]).decode() == config
    assert base64.b64decode(files[APPLY_SCRIPT_PATH]["content"]).decode() == "\n".join(script) + "\n"
    assert files[APPLY_SCRIPT_PATH]["permissions"] == "0755"
    (cmd,) = doc["runcmd"]
    assert f"CONFIG_HASH={config_hash(config)}" in cmd and APPLY_SCRIPT_PATH in cmd and "CONFIG_B64=" in cmd


@pytest.mark.skipif(not hasattr(yaml, "CSafeDumper"), reason="PyYAML built without libyaml")
@pytest.mark.parametrize("zones", [pytest.param(THREE, id="three-zones"), pytest.param(THREE[:1], id="one-zone")])
def test_cloud_init_is_the_same_bytes_with_or_without_libyaml(
    zones: tuple[ZoneBackend, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The VMSS carries the cloud-init's hash in a tag: a different emitter must not make every scale set
    # look changed.
    import transit_operator.plan.haproxy_config as haproxy_config

    config = render(zones=zones)
    fast = render_cloud_init(config=config, apply_script=render_apply_script())
    monkeypatch.setattr(haproxy_config, "_YAML_DUMPER", yaml.SafeDumper)
    slow = render_cloud_init(config=config, apply_script=render_apply_script())
    assert fast == slow


HEALTH_OUTPUT = """TRANSIT_SERVER zone=az1 port=9092 addr=10.0.1.4:9092 state=UP check=L6OK check_ms=3 since_s=120
TRANSIT_SERVER zone=az2 port=9092 addr=10.0.2.4:9092 state=DOWN check=L4TOUT check_ms=1001 since_s=7
TRANSIT_HEALTH result=degraded hash=0123456789abcdef instance=transit-1 up=1 down=1 mismatched=0 detail=-
"""
DEGRADED = BackendHealth(
    "degraded", "0123456789abcdef", "transit-1",
    (ServerHealth("az1", 9092, "10.0.1.4:9092", "UP", "L6OK", 3, 120),
     ServerHealth("az2", 9092, "10.0.2.4:9092", "DOWN", "L4TOUT", 1001, 7)),
    0, "-",
)  # fmt: skip


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param(HEALTH_OUTPUT, DEGRADED, id="plain-stdout"),
        pytest.param(f"Enable succeeded: \n[stdout]\n{HEALTH_OUTPUT}\n[stderr]\nnoise\n", DEGRADED, id="azure-message"),
        pytest.param(
            "TRANSIT_SERVER zone=az9 port=1 addr=x state=UP check=L6OK check_ms=1 since_s=1\n" + HEALTH_OUTPUT
            .replace("TRANSIT_SERVER", "TRANSIT_SERVER", 2),
            BackendHealth(DEGRADED.result, DEGRADED.config_hash, DEGRADED.instance,
                          (ServerHealth("az9", 1, "x", "UP", "L6OK", 1, 1), *DEGRADED.servers), 0, "-"),
            id="every-server-line-before-the-result",
        ),
        pytest.param(
            "TRANSIT_HEALTH result=unknown hash=- instance=vm-0 up=0 down=0 mismatched=0 "
            "detail=haproxy-not-answering:FileNotFoundError\n",
            BackendHealth("unknown", None, "vm-0", (), 0, "haproxy-not-answering:FileNotFoundError"),
            id="haproxy-not-running",
        ),
        pytest.param(
            "[stdout]\nsomething\n[stderr]\nTRANSIT_HEALTH result=healthy hash=- instance=x up=1 down=0 "
            "mismatched=0 detail=-\n",
            BackendHealth("unknown", None, None, (), 0, "no TRANSIT_HEALTH line in output: something"),
            id="stderr-cannot-fake-a-result",
        ),
    ],
)
def test_parse_backend_health(output: str, expected: BackendHealth) -> None:
    assert parse_backend_health(output) == expected


def test_parsed_backend_health_says_which_endpoints_are_down() -> None:
    assert [s.zone for s in parse_backend_health(HEALTH_OUTPUT).down] == ["az2"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_backend_health_script_is_valid_bash_and_read_only() -> None:
    script = "\n".join(render_backend_health_script())
    proc = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    # read-only: sends HAProxy `show stat` and nothing else; the shell writes no file
    assert re.findall(r"sendall\((.*?)\)", script) == ['b"show stat\\n"']
    shell = re.sub(r"SUMMARY='.*?'\n|^#[^\n]*\n", "", script, flags=re.S | re.M)
    assert ">" not in re.sub(r"[0-9]?>/dev/null|2>&1", "", shell), shell
    assert not re.search(r"\b(mv|rm|cp|tee|kill)\b", shell)

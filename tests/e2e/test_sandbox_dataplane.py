"""`transit-operator sandbox --dataplane`: VMSS instances are network namespaces running real HAProxy; once
Ready, Apache Kafka runs behind the Confluent endpoints the operator made and a serverless client produces
through the NCC endpoint, Private Link and the load balancer, every message read back once and in order;
the command leaves no namespace and no process behind."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
from pathlib import Path

import pytest

from transit_operator.runtime.sandbox import run_sandbox
from transit_sandbox.client_path import client_path_unavailable_reason
from transit_sandbox.confluent_zones import kafka_unavailable_reason
from transit_sandbox.dataplane import dataplane_unavailable_reason, netns_tag

pytestmark = pytest.mark.netns

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "02-single-zone-haproxy" / "transit.yaml"


def _own_namespaces() -> set[str]:
    """Namespaces this process's data plane made (`tx<pid>n<k>-...`); other test runs may be alive."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in listed.splitlines() if line.strip()}
    return {name for name in names if name.startswith(f"{netns_tag()}{os.getpid()}n")}


def _orphaned_haproxies() -> set[int]:
    """HAProxy processes left in a network namespace that no longer has a name: nobody can stop them."""
    named = {os.stat(path).st_ino for path in Path("/run/netns").glob("*")} if Path("/run/netns").exists() else set()
    host = os.stat("/proc/self/ns/net").st_ino
    found = subprocess.run(["pgrep", "-x", "haproxy"], capture_output=True, text=True).stdout
    orphans = set()
    for pid in map(int, found.split()):
        try:
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
        except FileNotFoundError:
            continue
        if inode != host and inode not in named:
            orphans.add(pid)
    return orphans


def test_dataplane_sandbox_reaches_ready_on_real_haproxy_and_cleans_up() -> None:
    reason = dataplane_unavailable_reason() or client_path_unavailable_reason() or kafka_unavailable_reason()
    if reason:
        pytest.skip(reason)
    namespaces, orphans = _own_namespaces(), _orphaned_haproxies()
    out = io.StringIO()
    args = argparse.Namespace(filename=[str(EXAMPLE)], until_ready=True, timeout=180.0, dataplane=True)

    assert run_sandbox(args, out=out) == 0, out.getvalue()

    assert "all objects are Ready" in out.getvalue()
    assert "1 instance(s) run config" in out.getvalue()  # applied by run-command on a real HAProxy
    assert "Apache Kafka" in out.getvalue() and "Serverless client" in out.getvalue(), out.getvalue()
    assert " 0 failed, 0 lost, 0 duplicated, 0 out of order" in out.getvalue(), out.getvalue()
    assert _own_namespaces() - namespaces == set()
    assert _orphaned_haproxies() - orphans == set()

"""The crash matrix: `transit-operator run` killed (SIGKILL) at every write it makes, then started again.

A crash point is (option, phase, channel, n, when):

    phase    create   the examples applied to an empty cloud, until every object is Ready
             delete   the Ready objects deleted (`deletionPolicy: Delete`), until they are gone
             rollout  HAProxy only: the endpoint's IP changes out of band, until every instance runs the
                      config with the new IP (DNS records, the scale set model, run commands in flight)
    channel  cloud       the n-th ARM or Databricks write (the sandbox cloud's write trap)
             kubernetes  the n-th write to the operator's own objects: finalizer added and removed,
                         status and annotation patches (the `KubeProxy`'s write trap)
    when     before   the write never reaches the server: killed with the request on the wire
             after    the server applied it; the operator dies before reading the answer

After the kill a new operator process starts, and the point has *converged* when the phase ends (Ready,
or gone) within the time limit and:
- the cloud holds exactly what an uninterrupted run of the same phase leaves (`Snapshot`: every ARM id, the
  NCCs, the live NCC rules by target, the workspace bindings): nothing duplicated, nothing leaked;
- nothing was created twice (an ARM PUT answered 201 twice for one id, an NCC or a rule made twice);
- after a rollout, every instance runs the config the status names, and it carries the new IP.

The number of writes of each (option, phase, channel) comes from an uninterrupted run (`count_writes`),
which is also the reference snapshot; a point beyond the writes of its own run (runs differ slightly in
how many status patches they make) is reported as not reached, never as converged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from transit_sandbox.kube import KubeServer
from transit_sandbox.traps import When, Write, WriteCounter, WriteTrap

from .world import API_VERSION, CPL, OPTIONS, SXT, Snapshot, World, wait_for

Phase = Literal["create", "delete", "rollout"]
Channel = Literal["cloud", "kubernetes"]
PHASES: dict[str, tuple[Phase, ...]] = {"haproxy": ("create", "delete", "rollout"),
                                        "applicationGateway": ("create", "delete")}
CHANNELS: tuple[Channel, ...] = ("cloud", "kubernetes")
WHEN: tuple[When, ...] = ("before", "after")
PHASE_SECONDS = 90.0  # a phase converges in seconds here; this only bounds a point that never would
NEW_ENDPOINT_IP_OFFSET = 100  # the rollout's new endpoint IP: the old one's last octet + this (mod 250)


def operator_object(write: Write) -> bool:
    """A write to one of the operator's own objects (not an Event, not a Lease)."""
    return write.path.startswith(f"/apis/{API_VERSION}/")


@dataclass(frozen=True)
class CrashPoint:
    option: str
    phase: Phase
    channel: Channel
    n: int
    when: When

    @property
    def id(self) -> str:
        return f"{self.option}-{self.phase}-{self.channel}-{self.n}-{self.when}"


@dataclass
class CrashVerdict:
    point: CrashPoint
    killed_at: Write | None = None  # None: the run made fewer writes than n
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reached(self) -> bool:
        return self.killed_at is not None

    @property
    def converged(self) -> bool:
        return self.reached and not self.problems


@dataclass(frozen=True)
class PhaseRun:
    """An uninterrupted run of one phase: the writes on each channel and what the cloud holds at its end."""

    writes: dict[Channel, list[Write]]
    snapshot: Snapshot


# ------------------------------------------------------------------------------------------ one phase

def _arm(world: World, channel: Channel, trap: WriteTrap) -> None:
    if channel == "cloud":
        world.cloud.set_write_trap(trap)
    else:
        assert world.proxy is not None
        trap.match = operator_object
        world.proxy.set_write_trap(trap)


def _endpoint_id(world: World) -> str:
    cpl = world.get(world.of_kind(CPL)) or {}
    return str(((cpl.get("status") or {}).get("zones") or [{}])[0]["privateEndpointId"])


def _setup(world: World, phase: Phase) -> Callable[[], None]:
    """Bring the world to the phase's start; returns what starts the phase (the operator is running)."""
    world.start_operator()
    if phase == "create":
        return world.apply
    world.apply()
    world.ready()
    if phase == "delete":
        return world.delete

    def change_endpoint_ip() -> None:
        endpoint = world.cloud.admin.resource(_endpoint_id(world)) or {}
        nic = world.cloud.admin.resource(endpoint["properties"]["networkInterfaces"][0]["id"]) or {}
        old = nic["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"]
        head, last = old.rsplit(".", 1)
        world.rollout_ip = f"{head}.{(int(last) + NEW_ENDPOINT_IP_OFFSET) % 250 + 4}"
        world.cloud.admin.set_private_endpoint_ip(_endpoint_id(world), world.rollout_ip)

    return change_endpoint_ip


def _finished(world: World, phase: Phase) -> Callable[[], bool]:
    """The phase's end: everything Ready (after a rollout: on the new IP), or everything gone."""
    from .world import is_ready

    if phase == "delete":
        return lambda: all(world.get(doc) is None for doc in world.crs)
    if phase == "create":
        return lambda: all(is_ready(world.get(doc)) for doc in world.crs)

    def rolled_out() -> bool:
        transit = world.get(world.of_kind(SXT))
        status = (transit or {}).get("status") or {}
        return is_ready(transit) and status.get("backendIps") == [world.rollout_ip] and all(
            is_ready(world.get(doc)) for doc in world.crs)

    return rolled_out


def rollout_problems(world: World) -> list[str]:
    """After a rollout: each instance runs the config the status names, with the new IP."""
    transit = world.get(world.of_kind(SXT)) or {}
    haproxy = (transit.get("status") or {}).get("haproxy") or {}
    desired = haproxy.get("desiredConfigHash")
    problems = []
    configs = dict(world.executor.configs)
    if len(configs) != world.of_kind(SXT)["spec"]["haproxy"]["instanceCount"]:
        problems.append(f"{len(configs)} instances run a config")
    for (_, instance), config in sorted(configs.items()):
        if config is None or world.rollout_ip not in config:
            problems.append(f"instance {instance} does not forward to {world.rollout_ip}")
    for entry in haproxy.get("instances") or []:
        if entry.get("appliedConfigHash") != desired:
            problems.append(f"instance {entry.get('instanceId')} reports config {entry.get('appliedConfigHash')}, "
                            f"not {desired}")
    return problems


def run_phase(option: str, phase: Phase) -> PhaseRun:
    """The phase without a kill: its writes on both channels, and the reference snapshot."""
    with World(option) as world:
        world.prewarm()
        cloud, kubernetes = WriteCounter(), WriteCounter(operator_object)
        start = _setup(world, phase)
        world.cloud.set_write_trap(cloud)
        assert world.proxy is not None
        world.proxy.set_write_trap(kubernetes)
        start()
        wait_for(_finished(world, phase), PHASE_SECONDS, f"{option} {phase} without a kill ({world.conditions()})",
                 interval=0.2)
        snapshot = world.snapshot()
        return PhaseRun({"cloud": list(cloud.seen), "kubernetes": list(kubernetes.seen)}, snapshot)


def run_point(point: CrashPoint, reference: Snapshot | None = None, kube: KubeServer | None = None) -> CrashVerdict:
    """Kill at `point`, start the operator again, and judge the end of the phase (module docstring).
    `reference`: what the cloud holds after the phase without a kill; None for a rollout, which ends with
    what its uninterrupted cold start (the setup, in the same world) left. `kube`: a started, empty API
    server (a real kube-apiserver); None: the world's own embedded emulator."""
    started = time.monotonic()
    verdict = CrashVerdict(point)
    with World(point.option, kube=kube) as world:
        world.prewarm()
        start = _setup(world, point.phase)
        if reference is None:
            assert point.phase == "rollout", "a reference run is needed for create and delete"
            reference = world.snapshot()
        trap = WriteTrap(point.n, point.when, action=lambda write: world.kill_operators())
        _arm(world, point.channel, trap)
        start()
        finished = _finished(world, point.phase)
        try:
            wait_for(lambda: trap.fired is not None or finished(), PHASE_SECONDS, "the phase")
        except AssertionError:
            verdict.problems.append(f"the phase did not end and the trap did not fire ({world.conditions()})")
        verdict.killed_at = trap.fired
        if trap.fired is not None:
            world.start_operator()
            try:
                wait_for(finished, PHASE_SECONDS, "converged after the restart", interval=0.2)
            except AssertionError:
                verdict.problems.append(f"not converged after the restart: {world.conditions()}")
        if verdict.reached and not verdict.problems:
            verdict.problems += [f"cloud: {line}" for line in world.snapshot().difference(reference)]
            verdict.problems += [f"created {n} times: {what}" for what, n in world.created_twice().items()]
            if point.phase == "rollout":
                verdict.problems += rollout_problems(world)
        if verdict.problems:
            verdict.problems.append("operator log tail: " + world.operators[-1].log()[-1500:])
    verdict.seconds = time.monotonic() - started
    return verdict


# ------------------------------------------------------------------------------------------ the matrix

def points(runs: dict[tuple[str, Phase], PhaseRun]) -> list[CrashPoint]:
    """Every crash point of the counted runs: each write on each channel, before and after."""
    out = []
    for (option, phase), run in runs.items():
        for channel in CHANNELS:
            for n in range(1, len(run.writes[channel]) + 1):
                out += [CrashPoint(option, phase, channel, n, when) for when in WHEN]
    return out


def count_writes(phases: Callable[[str], bool] = lambda name: True) -> dict[tuple[str, Phase], PhaseRun]:
    """The uninterrupted run of every phase of every option (those `phases` accepts by `option-phase`)."""
    return {(option, phase): run_phase(option, phase)
            for option in OPTIONS for phase in PHASES[option] if phases(f"{option}-{phase}")}

"""A Kafka client for the data plane, run inside a client namespace (prints one JSON line).

    python -m transit_sandbox.kafka_client produce    <bootstrap> <ca> <topic> <seconds> <per_second>
    python -m transit_sandbox.kafka_client consume    <bootstrap> <ca> <topic> <sent>
    python -m transit_sandbox.kafka_client throughput <bootstrap> <ca> <topic> <count> <size>
    python -m transit_sandbox.kafka_client latency    <bootstrap> <ca> <topic> <count>

Every producer is what the benchmarks and tests need to judge a transit by: idempotent
(`enable.idempotence`, so retries after a broken connection neither duplicate nor reorder), `acks=all`.

- produce: a fixed rate for `seconds`; message i (value `i`) goes to partition `i % partitions`. Prints
  `{"event": "producing", "at": <monotonic s>}` first (callers time their changes against it), then
  counts sent/delivered/failed, the longest stall: the longest time without any delivery report while
  messages were outstanding (`max_stall_s`, starting at `stall_from`, CLOCK_MONOTONIC like the caller's),
  and the longest any one message waited for its report (`max_wait_s`: a stall of one partition shows here
  even while the others deliver; `slowest`: its partition and when it was sent, to find it in traces),
  and how often a broker connection was lost (`disconnects`, librdkafka's statistics).
- consume: reads every partition from the start until `sent` messages came back (90 s at most), and
  checks each partition holds exactly its values, once each, in order (`lost`, `duplicated`,
  `out_of_order`).
- throughput: `count` messages of `size` bytes as fast as the producer goes (and the CPU time the client
  process used meanwhile, all threads); latency: one message at a time (produce + flush), p50/p90 in ms.

Topics are created with the cluster's defaults (partitions, replication factor) unless they exist. TLS
to the brokers, the server name checked against the CA. Started with `ip netns exec` so names resolve
through the namespace's resolver. Needs confluent-kafka (a test dependency), imported only when a mode runs.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time
from typing import Any

# What docs/options.md tells users to set so that a client notices a lost transit instance within seconds
# (librdkafka's names; a Spark notebook's Java client takes `kafka.request.timeout.ms` and friends): a
# Standard LB keeps established flows on an instance that is gone, so only the client's own request
# timeout ends them (default 30 s; one timed-out request closes the connection, and the reconnection is
# hashed onto a live instance). A reconnection hashed onto the gone instance before the LB's probe drops it
# sends SYNs nobody answers until `socket.connection.setup.timeout.ms` (librdkafka default 30 s: measured,
# 10 s request timeout + 30 s = a 40.6 s stall in bench/dataplane.py --quick).
LOST_INSTANCE_SETTINGS: dict[str, str | int | float | bool] = {
    "request.timeout.ms": 10000,
    "socket.timeout.ms": 10000,
    "socket.connection.setup.timeout.ms": 5000,
}


def tls(bootstrap: str, ca: str) -> dict[str, str | int | float | bool]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": ca,
        "ssl.endpoint.identification.algorithm": "https",
    }


def producer_config(bootstrap: str, ca: str) -> dict[str, str | int | float | bool]:
    """The producer every mode uses: idempotent, acks=all, small batches; plus the JSON object in
    `$TRANSIT_KAFKA_CONFIG` (librdkafka settings a caller wants to try, e.g. `socket.timeout.ms`)."""
    return {
        **tls(bootstrap, ca),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 120000,
        **json.loads(os.environ.get("TRANSIT_KAFKA_CONFIG") or "{}"),
    }


def create_topic(bootstrap: str, ca: str, topic: str) -> int:
    """Create `topic` with the cluster's default partitions and replication factor; its partition count."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(tls(bootstrap, ca))  # keep a reference: the futures die with the handle
    futures = admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1)])
    for future in futures.values():
        try:
            future.result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(topic, timeout=10).topics.get(topic)
        if meta is not None and meta.error is None and meta.partitions:
            return len(meta.partitions)
        time.sleep(0.2)
    raise SystemExit(f"topic {topic} has no partitions after 30 s")


def produce(bootstrap: str, ca: str, topic: str, seconds: float, per_second: int) -> dict[str, object]:
    from confluent_kafka import Producer

    partitions = create_topic(bootstrap, ca, topic)
    reports: list[float] = []
    failed: list[str] = []
    sent_at: list[float] = []
    waited = 0.0  # the longest any message waited for its delivery report
    slowest: tuple[float, int, float] = (0.0, -1, 0.0)  # (wait, partition, sent at): where to look in traces
    delivered = 0

    def on_delivery(err: Any, msg: Any) -> None:
        nonlocal delivered, waited, slowest
        now = time.monotonic()
        reports.append(now)
        wait = now - sent_at[int(msg.value())]
        if wait > waited:
            waited, slowest = wait, (wait, msg.partition(), sent_at[int(msg.value())])
        if err is not None:
            failed.append(str(err))
        else:
            delivered += 1

    stats: dict[str, Any] = {}

    def on_stats(text: str) -> None:
        stats.update(json.loads(text))

    producer = Producer({**producer_config(bootstrap, ca), "statistics.interval.ms": 500, "stats_cb": on_stats})
    # Connect to every partition's leader, fetch metadata and a producer id first: the stall measured
    # is then the transit's, not the first connection's TLS handshake.
    for partition in range(partitions):
        producer.produce(topic, value=b"-1", partition=partition)
    producer.flush(30)
    start, wall_start = time.monotonic(), time.time()
    print(json.dumps({"event": "producing", "at": start}), flush=True)
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        while sent < int(elapsed * per_second):
            sent_at.append(time.monotonic())
            producer.produce(topic, value=str(sent).encode(), partition=sent % partitions, on_delivery=on_delivery)
            sent += 1
        producer.poll(0.005)
    end_of_sending = time.monotonic()
    remaining = producer.flush(120)
    seen = time.monotonic()
    while time.monotonic() - seen < 0.6:  # one more statistics report, after the last delivery
        producer.poll(0.1)
    brokers = [b for b in (stats.get("brokers") or {}).values() if int(b.get("nodeid", -1)) >= 0]
    # A stall: a stretch with messages outstanding and no delivery report. Between two reports (or from
    # the start to the first) messages were always outstanding, since they are produced at a fixed rate.
    marks = [start, *sorted(reports)]
    gaps = [(b - a, a) for a, b in itertools.pairwise(marks)]
    stall, stall_from = max(gaps) if gaps else (0.0, start)
    return {
        "sent": sent,
        "delivered": delivered,
        "failed": len(failed),
        "errors": sorted(set(failed))[:5],
        "unflushed": remaining,
        "partitions": partitions,
        "max_stall_s": round(stall, 3),
        "max_wait_s": round(waited, 3),
        "disconnects": sum(int(b.get("disconnects", 0)) for b in brokers),
        "slowest": {"partition": slowest[1], "sent_at": round(slowest[2], 3), "wall_sent_at": round(
            slowest[2] - start + wall_start, 3)},
        "stall_from": round(stall_from, 3),
        "start": round(start, 3),
        "seconds": round(end_of_sending - start, 2),
    }


def consume(bootstrap: str, ca: str, topic: str, sent: int) -> dict[str, object]:
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**tls(bootstrap, ca), "group.id": f"check-{topic}", "enable.auto.commit": False})
    deadline = time.monotonic() + 90
    while True:  # like any consumer, ride out a broken connection (a lost transit instance) and retry
        try:
            partitions = len(consumer.list_topics(topic, timeout=15).topics[topic].partitions)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got: dict[int, list[int]] = {p: [] for p in range(partitions)}
    total = 0
    deadline = time.monotonic() + 90
    while total < sent and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() or msg.value() is None:
            continue
        value = int(msg.value())  # type: ignore[arg-type]
        if value < 0:
            continue  # the producer's warm-up message
        got[msg.partition()].append(value)  # type: ignore[index]
        total += 1
    consumer.close()
    lost = duplicated = out_of_order = 0
    for p, values in got.items():
        expected = list(range(p, sent, partitions))
        seen = set(values)
        lost += len(set(expected) - seen)
        duplicated += len(values) - len(seen)
        highest = -1
        for value in values:  # in the order the partition holds them
            out_of_order += value < highest
            highest = max(highest, value)
    return {"consumed": total, "partitions": partitions, "lost": lost, "duplicated": duplicated,
            "out_of_order": out_of_order}  # fmt: skip


def throughput(bootstrap: str, ca: str, topic: str, count: int, size: int) -> dict[str, object]:
    from confluent_kafka import Producer

    create_topic(bootstrap, ca, topic)
    producer = Producer(producer_config(bootstrap, ca))
    failed: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    producer.produce(topic, value=b"warm-up", on_delivery=on_delivery)  # connect and fetch metadata first
    producer.flush(30)
    payload = b"x" * size
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value=payload, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    left = producer.flush(120)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "count": count,
        "size": size,
        "seconds": round(seconds, 4),
        "failed": len(failed),
        "unflushed": left,
        "msgs_per_s": round(count / seconds, 1),
        "mb_per_s": round(count * size / seconds / 1e6, 3),
        "cpu_s": round(cpu, 4),
    }


def latency(bootstrap: str, ca: str, topic: str, count: int) -> dict[str, object]:
    from confluent_kafka import Producer

    create_topic(bootstrap, ca, topic)
    producer = Producer({**producer_config(bootstrap, ca), "linger.ms": 0})
    producer.produce(topic, value=b"warm-up", partition=0)
    producer.flush(30)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        producer.produce(topic, value=str(i).encode(), partition=0)
        producer.flush(10)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "count": count,
        "p50_ms": round(statistics.median(samples), 4),
        "p90_ms": round(samples[int(len(samples) * 0.9)], 4),
    }


def argv(mode: str, bootstrap: str, ca: str, topic: str, *args: object) -> list[str]:
    """The command line that runs `mode` with this interpreter (for `VNet.exec`/`VNet.popen`)."""
    return [sys.executable, "-m", "transit_sandbox.kafka_client", mode, bootstrap, ca, topic, *(str(a) for a in args)]


def main(args: list[str]) -> dict[str, object]:
    mode, bootstrap, ca, topic, *rest = args
    if mode == "consume":
        return consume(bootstrap, ca, topic, int(rest[0]))
    if mode == "produce":
        return produce(bootstrap, ca, topic, float(rest[0]), int(rest[1]))
    if mode == "throughput":
        return throughput(bootstrap, ca, topic, int(rest[0]), int(rest[1]))
    if mode == "latency":
        return latency(bootstrap, ca, topic, int(rest[0]))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)

"""A Kafka client for the data plane, run inside a client namespace (prints one JSON line).

    python -m transit_sandbox.kafka_client produce    <bootstrap> <ca> <topic> <seconds> <per_second>
    python -m transit_sandbox.kafka_client consume    <bootstrap> <ca> <topic> <expected>
    python -m transit_sandbox.kafka_client throughput <bootstrap> <ca> <topic> <count> <size>
    python -m transit_sandbox.kafka_client latency    <bootstrap> <ca> <topic> <count>

- produce: a producer at a fixed rate for `seconds` (values 0, 1, 2, ...; prints `{"event": "producing"}`
  first, so a caller can time config applies against it); counts delivered, unique and failed messages
- consume: reads partition 0 from the start until `expected` distinct values 0..expected-1 were seen (30 s)
- throughput: `count` messages of `size` bytes as fast as the producer goes (acks=all)
- latency: one message at a time (produce + flush); p50 and p90 in ms

Every mode but consume creates the topic first (one partition). TLS to the brokers, the server name checked
against the CA. Started with `ip netns exec` (`VNet.exec`/`VNet.popen` in `transit_sandbox.dataplane`) so
names resolve through the namespace's /etc/hosts; used by tests/dataplane and bench/dataplane_throughput.py.
Needs confluent-kafka (a test dependency), imported only when a mode runs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def tls(bootstrap: str, ca: str) -> dict[str, str | int | float | bool]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": ca,
        "ssl.endpoint.identification.algorithm": "https",
    }


def create_topic(bootstrap: str, ca: str, topic: str) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(tls(bootstrap, ca))  # keep a reference: the futures die with the handle
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    for future in futures.values():
        try:
            future.result(15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def produce(bootstrap: str, ca: str, topic: str, seconds: float, per_second: int) -> dict[str, object]:
    from confluent_kafka import Producer

    delivered: list[int] = []
    failed: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            delivered.append(int(msg.value()))  # type: ignore[attr-defined]

    producer = Producer(
        {**tls(bootstrap, ca), "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000, "retries": 1000000}
    )
    start = time.monotonic()
    sent = 0
    print(json.dumps({"event": "producing"}), flush=True)
    while (elapsed := time.monotonic() - start) < seconds:
        while sent < int(elapsed * per_second):
            producer.produce(topic, value=str(sent).encode(), on_delivery=on_delivery)
            sent += 1
        producer.poll(0.01)
    remaining = producer.flush(40)
    return {
        "sent": sent,
        "delivered": len(delivered),
        "unique": len(set(delivered)),
        "failed": len(failed),
        "errors": sorted(set(failed))[:5],
        "unflushed": remaining,
        "seconds": round(time.monotonic() - start, 2),
    }


def consume(bootstrap: str, ca: str, topic: str, expected: int) -> dict[str, object]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**tls(bootstrap, ca), "group.id": "transit-test", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])  # consumer groups are unreliable on tansu: assign
    seen: set[int] = set()
    total = 0
    deadline = time.monotonic() + 30
    while len(seen) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        value = msg.value() if msg is not None and not msg.error() else None
        if value is None:
            continue
        total += 1
        seen.add(int(value))
    consumer.close()
    return {"consumed": total, "unique": len(seen), "missing": sorted(set(range(expected)) - seen)[:10]}


def throughput(bootstrap: str, ca: str, topic: str, count: int, size: int) -> dict[str, object]:
    from confluent_kafka import Producer

    producer = Producer({**tls(bootstrap, ca), "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000})
    failed: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    producer.produce(topic, value=b"warm-up", on_delivery=on_delivery)  # connect and fetch metadata first
    producer.flush(15)
    payload = b"x" * size
    started = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, value=payload, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.005)
        producer.poll(0)
    left = producer.flush(60)
    seconds = time.perf_counter() - started
    return {
        "count": count,
        "size": size,
        "seconds": round(seconds, 4),
        "failed": len(failed),
        "unflushed": left,
        "msgs_per_s": round(count / seconds, 1),
        "mb_per_s": round(count * size / seconds / 1e6, 3),
    }


def latency(bootstrap: str, ca: str, topic: str, count: int) -> dict[str, object]:
    from confluent_kafka import Producer

    producer = Producer({**tls(bootstrap, ca), "acks": "all", "linger.ms": 0})
    producer.produce(topic, value=b"warm-up")
    producer.flush(15)
    samples = []
    for i in range(count):
        started = time.perf_counter()
        producer.produce(topic, value=str(i).encode())
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
    return [
        sys.executable,
        "-m",
        "transit_sandbox.kafka_client",
        mode,
        bootstrap,
        ca,
        topic,
        *(str(a) for a in args),
    ]


def main(args: list[str]) -> dict[str, object]:
    mode, bootstrap, ca, topic, *rest = args
    if mode == "consume":
        return consume(bootstrap, ca, topic, int(rest[0]))
    create_topic(bootstrap, ca, topic)
    if mode == "produce":
        return produce(bootstrap, ca, topic, float(rest[0]), int(rest[1]))
    if mode == "throughput":
        return throughput(bootstrap, ca, topic, int(rest[0]), int(rest[1]))
    if mode == "latency":
        return latency(bootstrap, ca, topic, int(rest[0]))
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)

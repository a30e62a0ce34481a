"""Kafka load run inside the client namespace by `dataplane_throughput.py` (prints one JSON line).

    python _kafka_load.py throughput <bootstrap> <ca> <topic> <count> <size>   as fast as possible
    python _kafka_load.py latency    <bootstrap> <ca> <topic> <count>          one message at a time
    python _kafka_load.py load       <bootstrap> <ca> <topic> <seconds> <per_second>

Not imported: started with `ip netns exec` so names resolve through the namespace's /etc/hosts. TLS as
in tests/dataplane/kafka_client.py (whose produce loop `load` copies).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def tls(bootstrap: str, ca: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": ca,
        "ssl.endpoint.identification.algorithm": "https",
    }


def create_topic(bootstrap: str, ca: str, topic: str) -> None:
    admin = AdminClient(tls(bootstrap, ca))  # keep a reference: the futures die with the handle
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    for future in futures.values():
        try:
            future.result(15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def throughput(bootstrap: str, ca: str, topic: str, count: int, size: int) -> dict[str, object]:
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
    return {"count": count, "size": size, "seconds": round(seconds, 4), "failed": len(failed), "unflushed": left,
            "msgs_per_s": round(count / seconds, 1), "mb_per_s": round(count * size / seconds / 1e6, 3)}


def latency(bootstrap: str, ca: str, topic: str, count: int) -> dict[str, object]:
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
    return {"count": count, "p50_ms": round(statistics.median(samples), 4),
            "p90_ms": round(samples[int(len(samples) * 0.9)], 4)}


def load(bootstrap: str, ca: str, topic: str, seconds: float, per_second: int) -> dict[str, object]:
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
    return {"sent": sent, "delivered": len(delivered), "unique": len(set(delivered)), "failed": len(failed),
            "errors": sorted(set(failed))[:5], "unflushed": remaining}


if __name__ == "__main__":
    mode, bootstrap, ca, topic, *rest = sys.argv[1:]
    create_topic(bootstrap, ca, topic)
    if mode == "throughput":
        out = throughput(bootstrap, ca, topic, int(rest[0]), int(rest[1]))
    elif mode == "latency":
        out = latency(bootstrap, ca, topic, int(rest[0]))
    else:
        out = load(bootstrap, ca, topic, float(rest[0]), int(rest[1]))
    print(json.dumps(out), flush=True)

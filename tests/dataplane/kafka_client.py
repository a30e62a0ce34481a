"""Kafka client run inside the client namespace by the data-plane tests (prints one JSON line).

    python kafka_client.py produce <bootstrap> <ca> <topic> <seconds> <per_second>
    python kafka_client.py consume <bootstrap> <ca> <topic> <expected>

Not a test module: the tests start it with `ip netns exec` so it resolves names through the namespace's
/etc/hosts and reaches the brokers only through the transit.
"""

from __future__ import annotations

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def tls(bootstrap: str, ca: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": ca,
        "ssl.endpoint.identification.algorithm": "https",
    }


def produce(bootstrap: str, ca: str, topic: str, seconds: float, per_second: int) -> dict[str, object]:
    admin = AdminClient(tls(bootstrap, ca))
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    for future in futures.values():
        try:
            future.result(15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
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
    consumer = Consumer({**tls(bootstrap, ca), "group.id": "transit-test", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])  # consumer groups are unreliable on tansu: assign
    seen: set[int] = set()
    total = 0
    deadline = time.monotonic() + 30
    while len(seen) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        total += 1
        seen.add(int(msg.value()))
    consumer.close()
    return {"consumed": total, "unique": len(seen), "missing": sorted(set(range(expected)) - seen)[:10]}


if __name__ == "__main__":
    mode, bootstrap, ca, topic, *rest = sys.argv[1:]
    if mode == "produce":
        out = produce(bootstrap, ca, topic, float(rest[0]), int(rest[1]))
    else:
        out = consume(bootstrap, ca, topic, int(rest[0]))
    print(json.dumps(out), flush=True)

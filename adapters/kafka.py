"""The one Kafka adapter: every producer, consumer and admin client of the studio is configured
here (idempotence, murmur2 partitioning, timeouts, TLS/SASL for a managed cluster), and the topic
catalogue is created here, idempotently.

Topic names come from `adapters.topics` (`settings.topics`).
"""

from __future__ import annotations

import ssl
import time
from typing import Any

from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from adapters.settings import Settings
from adapters.topics import CATALOGUE, TopicSpec


def bootstrap_servers(settings: Settings) -> list[str]:
    """Every broker's address: `kafka_bootstrap`'s list, or for a local stack of several nodes
    given one address, each node's (node i listens on that port + 2i; see `filmstudio.stack`)."""
    addresses = [a.strip() for a in settings.kafka_bootstrap.split(",") if a.strip()]
    if len(addresses) != 1 or settings.kafka_brokers == 1:
        return addresses
    host, _, port = addresses[0].rpartition(":")
    return [f"{host}:{int(port) + 2 * i}" for i in range(settings.kafka_brokers)]


def client_config(settings: Settings) -> dict[str, Any]:
    """What every client shares: the brokers and, for a managed cluster, TLS and SASL."""
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(bootstrap_servers(settings)),
        "security.protocol": settings.kafka_security_protocol,
        "socket.timeout.ms": 30_000,
    }
    if settings.kafka_ssl_ca_location:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    if settings.kafka_ssl_certificate_location and settings.kafka_ssl_key_location:
        config["ssl.certificate.location"] = str(settings.kafka_ssl_certificate_location)
        config["ssl.key.location"] = str(settings.kafka_ssl_key_location)
    if settings.kafka_sasl_mechanism:
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        password = settings.kafka_sasl_password
        config["sasl.password"] = password.get_secret_value() if password else ""
    return config


def producer(settings: Settings, transactional_id: str | None = None, **extra: Any) -> Producer:
    """Idempotent, acks=all, and murmur2 partitioning like Java and faust clients; with a
    `transactional_id`, a transactional producer that fences its zombies."""
    config = {
        **client_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        **extra,
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
    return Producer(config)


def consumer(settings: Settings, group: str, **extra: Any) -> Consumer:
    """Committed reads only, offsets committed (or stored) by the caller after its work is done."""
    return Consumer(
        {
            **client_config(settings),
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 10_000,
            **extra,
        }
    )


def admin_client(settings: Settings, **extra: Any) -> AdminClient:
    return AdminClient({**client_config(settings), **extra})


def send(producer: Producer, topic: str, key: str, value: bytes, timeout: float = 30.0) -> None:
    """Produce one message and wait until the broker has it (raises when it does not)."""
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    producer.produce(topic, key=key, value=value, on_delivery=delivered)
    if producer.flush(timeout) or errors:
        raise KafkaException(f"could not deliver to {topic}: {errors or 'timed out'}")


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a keyed message lands on with murmur2 partitioning (Java's default)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions  # aiokafka is untyped


def faust_broker(settings: Settings) -> dict[str, Any]:
    """The same brokers and security for a faust-streaming app (aiokafka underneath)."""
    options: dict[str, Any] = {"broker": [f"kafka://{a}" for a in bootstrap_servers(settings)]}
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return options
    import faust  # only the saga's process has it loaded

    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.kafka_ssl_ca_location or None)
        if settings.kafka_ssl_certificate_location and settings.kafka_ssl_key_location:
            context.load_cert_chain(
                settings.kafka_ssl_certificate_location, settings.kafka_ssl_key_location
            )
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=password.get_secret_value() if password else "",
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the missing catalogue topics and align configs of existing ones; returns created."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = {settings.topics.name(spec): spec for spec in CATALOGUE}
    new = [
        NewTopic(
            name,
            spec.partitions or settings.topic_partitions,
            settings.replication_factor,
            config=topic_config(settings, spec),
        )
        for name, spec in wanted.items()
        if name not in existing
    ]
    created = []
    for name, future in admin.create_topics(new, request_timeout=timeout).items() if new else ():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:  # created concurrently by someone else: fine
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    existing_specs = [(n, s) for n, s in wanted.items() if n in existing]
    _align_configs(admin, settings, existing_specs, timeout)
    _wait_until_led(admin, list(wanted), timeout)
    return created


def _wait_until_led(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Return once every topic is in the metadata with a leader for each partition: a fresh
    broker answers "unknown topic" for a while after creating one, and clients subscribing then
    would only look again at their next metadata refresh."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        waiting = [
            name
            for name in names
            if name not in topics
            or topics[name].error is not None
            or not topics[name].partitions
            or any(p.leader < 0 for p in topics[name].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KafkaException(f"topics without a leader after {timeout} s: {waiting}")
        time.sleep(0.1)


def topic_config(settings: Settings, spec: TopicSpec) -> dict[str, str]:
    """The topic's configs: the catalogue's, and how many replicas must have each write."""
    return {**spec.config(), "min.insync.replicas": str(settings.min_insync_replicas)}


def _align_configs(
    admin: AdminClient, settings: Settings, topics: list[tuple[str, TopicSpec]], timeout: float
) -> None:
    """Set the catalogue's configs on existing topics where they differ."""
    if not topics:
        return
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name, _ in topics]
    described = admin.describe_configs(resources, request_timeout=timeout)
    changes = []
    for (name, spec), resource in zip(topics, resources, strict=True):
        current = described[resource].result()
        drift = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
            for k, v in topic_config(settings, spec).items()
            if current[k].value != v
        ]
        if drift:
            changes.append(
                ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=drift)
            )
    for future in admin.incremental_alter_configs(changes).values() if changes else ():
        future.result()


def delete_topics(settings: Settings, timeout: float = 30.0) -> None:
    """Delete this prefix's catalogue topics (for throw-away test prefixes)."""
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    names = [n for n in map(settings.topics.name, CATALOGUE) if n in existing]
    for future in admin.delete_topics(names, request_timeout=timeout).values() if names else ():
        future.result()

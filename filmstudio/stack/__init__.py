"""The local infrastructure (Kafka in KRaft mode, PostgreSQL): ``up``, ``down``, ``status``."""

from __future__ import annotations

from dataclasses import dataclass

from adapters import kafka as kafka_client
from adapters.settings import Settings
from filmstudio.stack import kafka, postgres


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` reports for one service."""

    name: str
    running: bool
    healthy: bool
    where: str


def up(settings: Settings) -> None:
    """Start what is not running, then ensure the role, database and topics (all idempotent)."""
    postgres.start(settings)
    postgres.ensure_role(settings)
    postgres.ensure_database(settings, settings.pg_database)
    kafka.start(settings)
    kafka_client.ensure_topics(settings)


def down(settings: Settings) -> None:
    """Stop Kafka, then PostgreSQL; data stays in the state folder."""
    kafka.stop(settings)
    postgres.stop(settings)


def status(settings: Settings) -> list[ServiceStatus]:
    """Whether each service of this installation runs and answers."""
    running = kafka.running_nodes(settings)
    pg_running = postgres.running(settings)
    return [
        ServiceStatus(
            "kafka"
            if settings.kafka_brokers == 1
            else f"kafka ({len(running)} of {settings.kafka_brokers} nodes)",
            bool(running),
            bool(running) and kafka.ready(settings),
            ",".join(kafka_client.bootstrap_servers(settings)),
        ),
        ServiceStatus("postgres", pg_running, pg_running, f"{settings.pg_host}:{settings.pg_port}"),
    ]

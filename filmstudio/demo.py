"""`filmstudio demo`: drive the running studio through its public API, as a creator would.

Registers a creator, grants credits as the admin, creates a project from an example script,
requests a production, then shows its events as they reach Kafka and the read model.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import click
import httpx
from confluent_kafka import Consumer

from adapters import kafka
from adapters.settings import PROJECT_ROOT, Settings, get_settings
from filmstudio.apiclient import api_url, local_creator, token

EXAMPLE = PROJECT_ROOT / "examples" / "the-lamp.fountain"


def _event_consumer(settings: Settings) -> Consumer:
    consumer = kafka.consumer(settings, f"demo-{uuid.uuid4()}", **{"auto.offset.reset": "latest"})
    consumer.subscribe(settings.topics.all_events)
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)  # join the group, so nothing published from now on is missed
    return consumer


def _show_events(consumer: Consumer, correlation_ids: set[str], expected: int) -> None:
    seen = 0
    deadline = time.monotonic() + 30
    while seen < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        envelope = json.loads(message.value())
        if envelope["correlation_id"] not in correlation_ids:
            continue
        seen += 1
        click.echo(
            f"  kafka  {message.topic()}[{message.partition()}]@{message.offset()}  "
            f"#{envelope['position']} {envelope['type']} "
            f"{json.dumps(envelope['payload'])[:90]}"
        )
    if seen < expected:
        raise click.ClickException(f"only {seen} of {expected} events reached Kafka in 30 s")


@click.command()
@click.option(
    "--script", "script_path", type=click.Path(exists=True, path_type=Path), default=EXAMPLE
)
def demo(script_path: Path) -> None:
    """Create a project from an example script and request its production on the running stack."""
    settings = get_settings()
    base_url = api_url(settings)
    consumer = _event_consumer(settings)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        user_id, headers = local_creator(client, settings)
        admin = token(client, settings.admin_email, settings.secret("admin_password"))
        correlations = [str(uuid.uuid4()) for _ in range(4)]

        def call(method: str, path: str, correlation: str, **kwargs: object) -> dict:
            response = client.request(
                method,
                path,
                headers={**kwargs.pop("headers", headers), "X-Correlation-ID": correlation},
                **kwargs,
            )
            if response.status_code >= 400:
                raise click.ClickException(
                    f"{method} {path}: {response.status_code} {response.text}"
                )
            return response.json()

        click.echo(f"creator {user_id}")
        call(
            "POST",
            f"/v1/admin/users/{user_id}/credits",
            correlations[0],
            headers=admin,
            json={"amount": 100, "reason": "demo credits"},
        )
        project = call("POST", "/v1/projects", correlations[1], json={"title": "The Lamp"})
        call(
            "PUT",
            f"/v1/projects/{project['project_id']}/script",
            correlations[2],
            json={"format": "fountain", "text": script_path.read_text()},
        )
        production = call(
            "POST",
            f"/v1/projects/{project['project_id']}/productions",
            correlations[3],
            json={"quality": "draft", "languages": ["en"]},
        )
        click.echo(
            f"project {project['project_id']}  production {production['production_id']} "
            f"({production['reserved_credits']} credits reserved)"
        )
        click.echo("events as they reach Kafka:")
        # granted; created; script revised; reserved + requested
        _show_events(consumer, set(correlations), expected=5)
        consumer.close()
        seen = call(
            "GET",
            f"/v1/productions/{production['production_id']}",
            correlations[3],
            params={"min_position": production["position"]},
        )
        credits = call(
            "GET", "/v1/credits", correlations[3], params={"min_position": production["position"]}
        )
    click.echo(
        f"read model: production {seen['status']}, estimated {seen['estimated_seconds']} s, "
        f"{seen['credits']} credits"
    )
    click.echo(f"read model: credits balance {credits['balance']}, reserved {credits['reserved']}")

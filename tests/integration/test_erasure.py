"""Erasure on the real stack: after a creator who rendered a film and uploaded a voice sample is
erased, nothing of theirs is readable anywhere: every Kafka topic of the test's prefix, a
`pg_dump` of its database and every byte of its media store; and their tokens are refused at once.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from adapters.settings import Settings
from filmstudio.stack import postgres
from tests.integration import test_pipeline
from tests.support.audio import tone

RENDER_TIMEOUT = 420
TAG = uuid.uuid4().hex[:10]
EMAIL = f"erase-{TAG}@example.com"
NAME = f"Zephyrine {TAG}"
TITLE_WORD = f"Quixotl{TAG}"
LINE = f"Periwinkle {TAG} marmalade sings at dawn."
SCRIPT = f"""INT. GREENHOUSE - DAY

Nila waters the ferns.

NILA
{LINE}
"""


full = test_pipeline.full  # a whole studio of this module's own, with its own media store


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def rendered_by_a_creator(full: dict) -> tuple[str, dict[str, str], str]:
    """A creator with a voice sample and a completed film; (user id, auth headers, production)."""
    client = full["client"]
    body = {"email": EMAIL, "password": "a long password", "display_name": NAME}
    user_id = ok(client.post("/v1/auth/register", json=body), 201)["user_id"]
    token = ok(
        client.post("/v1/auth/token", data={"username": EMAIL, "password": body["password"]})
    )
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    grant = {"amount": 500, "reason": "test"}
    ok(client.post(f"/v1/admin/users/{user_id}/credits", json=grant, headers=full["admin"]))
    sample = {"sample": ("me.wav", tone(), "audio/wav")}
    ok(client.post("/v1/voices", data={"name": NAME}, files=sample, headers=auth), 201)
    project = ok(
        client.post("/v1/projects", json={"title": f"The {TITLE_WORD} Affair"}, headers=auth), 201
    )
    script = {"format": "fountain", "text": SCRIPT}
    ok(client.put(f"/v1/projects/{project['project_id']}/script", json=script, headers=auth))
    path = f"/v1/projects/{project['project_id']}/productions"
    production_id = ok(client.post(path, json={}, headers=auth), 202)["production_id"]
    wait_until_completed(full, production_id)
    return user_id, auth, production_id


def wait_until_completed(full: dict, production_id: str) -> None:
    deadline = time.monotonic() + RENDER_TIMEOUT
    status = failure = ""
    while time.monotonic() < deadline:
        with psycopg.connect(full["settings"].pg_conninfo) as conn:
            found = conn.execute(
                "SELECT status, failure FROM rm_productions WHERE production_id = %s",
                (production_id,),
            ).fetchone()
        status, failure = found or ("not projected yet", "")
        if status in ("completed", "failed"):
            break
        time.sleep(1)
    logs = "\n".join(p.log.read_text()[-1500:] for p in full["processes"])
    assert status == "completed", f"the film did not render: {status} {failure}\n{logs}"


def topics_of(settings: Settings) -> list[str]:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    names = admin.list_topics(timeout=10).topics
    return sorted(name for name in names if name.startswith(f"{settings.topic_prefix}."))


def every_message(settings: Settings, topic: str) -> bytes:
    """Keys, values and headers of every message of `topic`, from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-erasure-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_uncommitted",  # aborted transactions too
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen, at_end = [], set()
    while len(at_end) < len(partitions):
        message = consumer.poll(10)
        assert message is not None, f"{topic} stopped delivering"
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            at_end.add(message.partition())
            continue
        seen += [message.key() or b"", message.value() or b""]
        seen += [value or b"" for _, value in message.headers() or []]
    consumer.close()
    return b"\n".join(seen)


def pg_dump(settings: Settings) -> bytes:
    argv = [str(postgres.bindir() / "pg_dump"), "-h", settings.pg_host, "-p", str(settings.pg_port)]
    argv += ["-U", settings.pg_user, "--no-owner", settings.pg_database]
    env = {**os.environ, "PGPASSWORD": settings.pg_password.get_secret_value()}
    return subprocess.run(argv, env=env, capture_output=True, check=True).stdout


def files_under(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file())


def test_an_erased_creator_is_nowhere_in_clear_and_their_tokens_are_refused(full):
    settings, client = full["settings"], full["client"]
    user_id, auth, _ = rendered_by_a_creator(full)
    secrets = {
        "email": EMAIL.encode(),
        "display name": NAME.encode(),
        "title word": TITLE_WORD.encode(),
        "script line": LINE.encode(),
    }
    before = b"".join(every_message(settings, t) for t in topics_of(settings))
    assert secrets["script line"] not in before, "the script travelled in clear before erasure"
    assert any(p.name == "film.mp4" for p in files_under(settings.media_root)), "no film rendered"
    assert (settings.voice_samples_root / user_id).is_dir(), "no voice sample stored"
    dump = pg_dump(settings)  # the searches below do find clear text where there is some
    assert secrets["display name"] in dump and secrets["title word"] in dump
    assert any(secrets["script line"] in p.read_bytes() for p in files_under(settings.media_root))

    erased = ok(client.delete("/v1/me", headers=auth), 202)
    assert client.get("/v1/projects", headers=auth).status_code == 401, "a token outlived erasure"
    assert client.get("/v1/credits", headers=auth).status_code == 401
    again = client.post(f"/v1/admin/users/{user_id}/erase", headers=full["admin"])
    assert ok(again)["position"] >= erased["position"], "a repeated erase is not idempotent"
    listed = client.get(
        "/v1/admin/users", params={"min_position": erased["position"]}, headers=full["admin"]
    )
    assert user_id not in {u["user_id"] for u in ok(listed)}

    topics = topics_of(settings)
    assert any(".dlq" in t for t in topics) and any(".work." in t for t in topics), topics
    for topic in topics:
        held = every_message(settings, topic)
        for what, secret in secrets.items():
            assert secret not in held, f"the {what} is in clear on {topic}"
    dump = pg_dump(settings)
    assert b"rm_projects" in dump, "the dump holds no read models"
    for what, secret in secrets.items():
        assert secret not in dump, f"the {what} is in clear in the database"
    for path in files_under(settings.media_root):
        content = path.read_bytes()
        for what, secret in secrets.items():
            assert secret not in content, f"the {what} is in clear in {path}"
    assert not (settings.voice_samples_root / user_id).exists(), "the voice sample survived"
    with psycopg.connect(settings.pg_conninfo) as conn:
        for table, column in ROWS_OF_A_USER:
            query = f"SELECT count(*) FROM {table} WHERE {column} = %s"  # noqa: S608 - fixed
            assert conn.execute(query, (user_id,)).fetchone() == (0,), f"a row left in {table}"


ROWS_OF_A_USER = (
    ("rm_users", "user_id"),
    ("rm_projects", "owner_id"),
    ("rm_productions", "owner_id"),
    ("rm_credit_ledger", "user_id"),
    ("rm_credit_accounts", "user_id"),
    ("rm_voice_samples", "user_id"),
)

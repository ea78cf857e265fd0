"""E-mail against the real broker and database, with Prism on SendGrid's OpenAPI description
(behind a recording proxy) in SendGrid's place: events become outbox rows once, each row is
sent once, a replay sends nothing again, failures retry and then go to the dead letters."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from adapters import kafka
from adapters.account_tokens import AccountTokens
from adapters.bus import KafkaBus
from adapters.dead_letters import DeadLetters
from adapters.mailer import Mail, MailRefused, SendGridMailer
from adapters.postgres import connection_pool
from adapters.settings import Settings
from commands.handlers import Studio
from domain.credits import credit_account_id
from domain.production import ProductionOptions
from filmstudio import procutil
from projections.mail_sender import EMAILS, Composer, MailSender
from projections.notifications import NotificationsProjection
from projections.replay import replay
from projections.runner import ProjectionRunner, wait_for_position
from schemas.dead_letters import ConsumerDeadLetter
from schemas.envelope import AggregateRef, Envelope
from tests.integration.conftest import cli_process, free_port
from tests.integration.eventflow import SCRIPT, command_side, relay_thread, running
from tests.support.prism import SendGridStandIn

NAME = "notifications"
PASSWORD = "a long enough password"


@dataclass
class Flow:
    settings: Settings
    studio: Studio
    pool: ConnectionPool
    sender: MailSender


def make_sender(settings: Settings, pool: ConnectionPool, studio: Studio) -> MailSender:
    tokens = AccountTokens(settings.secret("account_token_secret"), 3600, 3600)
    group = settings.topics.group("notifications.mail")
    return MailSender(
        settings,
        pool,
        Composer(settings, studio.keys, tokens),
        SendGridMailer(settings),
        DeadLetters(KafkaBus(kafka.producer(settings)), settings.topics.dead_letters(), group),
        retry_initial=0.0,  # due again at once: the test drives each try
    )


@pytest.fixture(scope="module")
def flow(isolated_settings: Callable[[], Settings], sendgrid: SendGridStandIn) -> Iterator[Flow]:
    """An installation whose notifications projection runs live, and a sender (driven by the
    tests, one batch at a time) to SendGrid's stand-in."""
    settings = isolated_settings().model_copy(
        update={
            "sendgrid_api_key": SecretStr("SG.integration-test"),
            "sendgrid_api_base": sendgrid.base_url,
            "public_url": "https://studio.example",
            "mail_max_attempts": 3,
        }
    )
    with (
        command_side(settings) as studio,
        connection_pool(settings, max_size=6, name="test-notifications") as pool,
        relay_thread(settings, studio.store),
    ):
        runner = ProjectionRunner(settings, pool, NotificationsProjection())
        with running(runner.run):
            yield Flow(settings, studio, pool, make_sender(settings, pool, studio))


def address() -> str:
    return f"u-{secrets.token_hex(4)}@example.com"


def caught_up(flow: Flow) -> None:
    """Wait until the projection has applied every event recorded so far."""
    position = flow.studio.store.last_position()
    assert wait_for_position(flow.pool, NAME, position, timeout=60), f"{NAME} at {position}"


def outbox(flow: Flow, user_id: UUID) -> dict[str, tuple[str, int]]:
    """kind -> (status, attempts) of the user's e-mails."""
    with flow.pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, status, attempts FROM mail_outbox WHERE user_id = %s", (user_id,)
        ).fetchall()
    return {kind: (status, attempts) for kind, status, attempts in rows}


def _to(body: dict) -> list[dict]:
    return [t for p in body.get("personalizations", []) for t in p["to"]]


def sent_to(sendgrid: SendGridStandIn, email: str) -> list[dict]:
    """The Mail Send bodies addressed to `email` that Prism accepted."""
    found = []
    for request in sendgrid.requests():
        body = request.json()
        if email in [t["email"] for t in _to(body)]:
            assert request.status == 202, request.violations
            assert request.authorized
            found.append(body)
    return found


def drain(flow: Flow) -> int:
    """Send every due e-mail; how many rows were handled."""
    handled = 0
    while claimed := flow.sender.send_due():
        handled += claimed
    return handled


def counted(kind: str, outcome: str) -> float:
    return EMAILS.labels(kind, outcome)._value.get()


def test_prism_accepts_our_mail_send_and_refuses_a_malformed_one(sendgrid, tmp_path):
    settings = Settings(
        state_dir=tmp_path,
        sendgrid_api_key=SecretStr("SG.test"),
        sendgrid_api_base=sendgrid.base_url,
    )
    mailer = SendGridMailer(settings)
    to = address()
    mail = Mail(to, "Asha", "Hello", "Hi.\n", "<p>Hi.</p>", "welcome", "https://s.example/u")
    mailer.send(mail)
    (accepted,) = [r for r in sendgrid.requests() if to in r.body.decode()]
    assert (accepted.status, accepted.authorized, accepted.violations) == (202, True, [])

    malformed = {k: v for k, v in mailer.body(mail).items() if k != "personalizations"}
    answer = httpx.post(
        f"{sendgrid.base_url}/v3/mail/send",
        json=malformed,
        headers={"Authorization": "Bearer SG.test"},
    )
    assert answer.status_code == 400
    assert "personalizations" in sendgrid.requests()[-1].violations[0]["message"]

    with pytest.raises(MailRefused, match="400"):
        mailer.send(Mail("not an address", "", "Hello", "Hi.\n", "<p>Hi.</p>", "welcome"))
    mailer.close()


def test_account_emails_are_written_once_and_sent_once(flow, sendgrid):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Asha")
    flow.studio.request_password_reset(email)
    flow.studio.request_password_reset("nobody-" + email)  # no account: no e-mail
    caught_up(flow)
    assert outbox(flow, user_id) == {"welcome": ("pending", 0), "password_reset": ("pending", 0)}
    before = counted("welcome", "sent")

    assert drain(flow) >= 2
    assert drain(flow) == 0  # nothing is sent twice

    bodies = sent_to(sendgrid, email)
    assert sorted(b["categories"][0] for b in bodies) == ["password_reset", "welcome"]
    assert outbox(flow, user_id) == {"welcome": ("sent", 1), "password_reset": ("sent", 1)}
    assert counted("welcome", "sent") == before + 1
    reset = next(b for b in bodies if b["categories"] == ["password_reset"])
    text = reset["content"][0]["value"]
    token = text.split("/reset-password?token=")[1].split()[0]
    claims = flow.sender.composer.tokens.read(token, "password-reset")
    assert (claims.user_id, claims.password_version) == (user_id, 0)
    everyone = [to["email"] for request in sendgrid.requests() for to in _to(request.json())]
    assert "nobody-" + email not in everyone


def test_purchases_and_productions_reach_their_owner_in_their_language(flow, sendgrid):
    email = address()
    studio = flow.studio
    user_id, _ = studio.register(email, PASSWORD, "आशा")
    studio.change_email_preferences(user_id, "hi", None)
    studio.keys.bind(credit_account_id(user_id), user_id)  # as the billing handler does
    account = studio.store.load(credit_account_id(user_id))
    account.purchase(
        "cs_test_1", "pi_1", 100, "purchase", "pack-100", 1000, "usd",
        "https://invoice.stripe.com/i/test_1",
    )  # fmt: skip
    studio.store.save_all(account)
    project_id, _ = studio.create_project(user_id, "Film", "hi", "16:9")
    studio.revise_script(user_id, project_id, "fountain", SCRIPT)
    requested = studio.request_production(user_id, project_id, ProductionOptions())
    assert requested.reserved_credits > 0
    production = studio.store.load(requested.production_id)
    production.fail("the voice stage failed")
    studio.store.save_all(production)
    caught_up(flow)
    drain(flow)

    bodies = {b["categories"][0]: b for b in sent_to(sendgrid, email)}
    assert set(bodies) == {"welcome", "receipt", "production_failed"}
    receipt = bodies["receipt"]["content"][0]["value"]
    assert "आपकी ख़रीद के लिए धन्यवाद" in receipt and "10.00 USD" in receipt
    assert "https://invoice.stripe.com/i/test_1" in receipt  # sealed in the event, opened to send
    failed = bodies["production_failed"]
    assert f"{requested.reserved_credits} क्रेडिट" in failed["content"][0]["value"]
    assert failed["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"/v1/productions/{requested.production_id}" in failed["content"][1]["value"]


def test_opted_out_users_get_receipts_but_no_product_email(flow, sendgrid):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Ravi")
    flow.studio.change_email_preferences(user_id, None, False)
    account = flow.studio.store.load(credit_account_id(user_id))
    assert account.warn_if_low(20)
    flow.studio.store.save_all(account)
    caught_up(flow)
    drain(flow)
    assert outbox(flow, user_id) == {"welcome": ("sent", 1), "balance_low": ("skipped", 1)}
    assert [b["categories"] for b in sent_to(sendgrid, email)] == [["welcome"]]


def test_a_replay_from_the_first_event_sends_nothing_again(flow, sendgrid):
    user_id, _ = flow.studio.register(address(), PASSWORD, "Meera")
    caught_up(flow)
    drain(flow)
    with flow.pool.connection() as conn:
        before = conn.execute("SELECT * FROM mail_outbox ORDER BY event_id, kind").fetchall()
    requests = len(sendgrid.requests())

    result = replay(ProjectionRunner(flow.settings, flow.pool, NotificationsProjection()))

    assert result.applied > 0
    with flow.pool.connection() as conn:
        after = conn.execute("SELECT * FROM mail_outbox ORDER BY event_id, kind").fetchall()
        users = conn.execute("SELECT count(*) FROM nt_users").fetchone()
    assert after == before, "the replay changed the outbox"
    assert users is not None and users[0] >= 1, "the replay rebuilt the projection's state"
    assert drain(flow) == 0
    assert len(sendgrid.requests()) == requests


def test_nothing_is_sent_while_a_replay_holds_the_projection(flow, sendgrid):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Tara")
    caught_up(flow)
    with psycopg.connect(flow.settings.pg_conninfo, autocommit=True) as replaying:
        replaying.execute("SELECT pg_advisory_lock(%s)", (flow.sender.projection_lock,))
        assert flow.sender.claim() == []
        assert outbox(flow, user_id) == {"welcome": ("pending", 0)}
    drain(flow)
    assert outbox(flow, user_id) == {"welcome": ("sent", 1)}
    assert len(sent_to(sendgrid, email)) == 1


def test_an_erased_user_gets_nothing_more(flow, sendgrid):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Kabir")
    caught_up(flow)
    flow.studio.erase_user(user_id)
    caught_up(flow)
    assert drain(flow) == 0
    assert outbox(flow, user_id) == {"welcome": ("dropped", 0)}
    assert sent_to(sendgrid, email) == []


def test_a_row_left_sending_by_a_crash_is_never_sent(flow, sendgrid):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Dev")
    caught_up(flow)
    claimed = flow.sender.claim()  # marked 'sending', then the sender "dies"
    assert [c.kind for c in claimed if c.user_id == user_id] == ["welcome"]
    assert flow.sender.recover() == len(claimed)
    assert drain(flow) == 0
    assert outbox(flow, user_id) == {"welcome": ("unknown", 1)}
    assert sent_to(sendgrid, email) == []


def dead_letters(settings: Settings) -> list[ConsumerDeadLetter]:
    consumer = kafka.consumer(
        settings, f"test-{secrets.token_hex(3)}", **{"enable.partition.eof": True}
    )
    topic = settings.topics.dead_letters()
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    found, ended = [], set()
    try:
        idle = 0
        while len(ended) < len(partitions):  # to every partition's end
            message = consumer.poll(1.0)
            if message is None:
                idle += 1
                assert idle < 60, "the dead-letter topic was not read to its end"
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                ended.add(message.partition())
                continue
            found.append(ConsumerDeadLetter.model_validate_json(message.value()))
    finally:
        consumer.close()
    return found


def test_sendgrid_unreachable_is_retried_then_dead_lettered(flow):
    email = address()
    user_id, _ = flow.studio.register(email, PASSWORD, "Zoya")
    caught_up(flow)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = flow.settings.model_copy(update={"sendgrid_api_base": closed})
    sender = make_sender(unreachable, flow.pool, flow.studio)
    dead_before = counted("welcome", "dead")

    outcomes = []
    for _ in range(flow.settings.mail_max_attempts):
        claimed = [c for c in sender.claim() if c.user_id == user_id]
        assert len(claimed) == 1, outcomes
        outcomes.append(sender.handle(claimed[0]))

    assert outcomes == ["retried", "retried", "dead"]
    assert outbox(flow, user_id) == {"welcome": ("dead", 3)}
    assert counted("welcome", "dead") == dead_before + 1
    letters = [d for d in dead_letters(flow.settings) if d.key and d.key.endswith(":welcome")]
    mine = [d for d in letters if json.loads(d.value)["user_id"] == str(user_id)]
    assert len(mine) == 1 and mine[0].error_type == "MailUnavailable"
    assert email not in mine[0].model_dump_json()  # no address in the dead letter


def test_the_notifications_process_sends_and_stops_on_sigterm(
    isolated_settings: Callable[[], Settings], sendgrid: SendGridStandIn, tmp_path: Path
):
    settings = isolated_settings().model_copy(
        update={
            "sendgrid_api_key": SecretStr("SG.integration-test"),
            "sendgrid_api_base": sendgrid.base_url,
            "public_url": "https://studio.example",
        }
    )
    email = address()
    with command_side(settings) as studio, relay_thread(settings, studio.store):
        process = cli_process("notifications", settings, tmp_path).start()
        try:
            studio.register(email, PASSWORD, "Isha")

            def delivered() -> bool:
                assert process.popen is not None and process.popen.poll() is None, procutil.tail(
                    process.log
                )
                return bool(sent_to(sendgrid, email))

            procutil.wait_until(delivered, 90, "the welcome e-mail from the process")
        finally:
            process.stop()
    assert [b["categories"] for b in sent_to(sendgrid, email)] == [["welcome"]]
    assert process.popen is not None and process.popen.returncode == 0, procutil.tail(process.log)


def test_history_older_than_the_age_limit_is_kept_stale_and_never_sent(flow):
    """Deployed on an existing installation, the projection reads years of events: none of
    them may e-mail anyone (a replay of an empty outbox is the same case)."""
    user_id, _ = flow.studio.register(address(), PASSWORD, "Old Timer")
    caught_up(flow)
    old = Envelope(
        event_id=uuid4(),
        type="user.PasswordResetRequested",
        version=1,
        aggregate=AggregateRef(type="user", id=user_id, sequence=99),
        position=flow.studio.store.last_position(),
        occurred_at=datetime.now(UTC) - timedelta(hours=25),
        correlation_id="",
        causation_id="",
        actor="system",
        payload={},
    )
    with flow.pool.connection() as conn:
        NotificationsProjection(timedelta(hours=24)).apply(conn, old)
    assert outbox(flow, user_id)["password_reset"] == ("stale", 0)
    drain(flow)
    assert outbox(flow, user_id)["password_reset"] == ("stale", 0)

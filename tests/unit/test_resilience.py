"""Which errors are retried, and a worker process that ends when one stage thread dies."""

import threading

import psycopg
import pytest
from confluent_kafka import KafkaError, KafkaException
from eventsourcing.persistence import DataError, OperationalError
from pydantic import ValidationError

from adapters.dead_letters import letter
from adapters.retry import is_transient
from filmstudio.workers_cli import run_until_one_fails
from schemas.dead_letters import ConsumerDeadLetter
from schemas.work import WorkUnit


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("the server closed the connection"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.InterfaceError("the connection is closed"),
        OperationalError("connection refused"),
        KafkaException(KafkaError(KafkaError._TRANSPORT)),
        KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN)),
        KafkaException("could not deliver to t: timed out"),
        ConnectionRefusedError(),
    ],
    ids=type,
)
def test_outages_are_transient(error):
    assert is_transient(error)


def _validation_error() -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        WorkUnit.model_validate_json(b"{}")
    return raised.value


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UntranslatableCharacter("unsupported Unicode escape sequence"),
        psycopg.DataError("text fields cannot contain NUL (0x00) bytes"),
        DataError("A string literal cannot contain NUL (0x00) characters."),
        KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)),
        KeyError("stage"),
        _validation_error(),
    ],
    ids=type,
)
def test_bad_data_and_bugs_are_not_transient(error):
    assert not is_transient(error)


def test_a_dead_letter_keeps_the_bytes_where_they_were_and_why():
    dead = letter("g", "t.events.project", 2, 41, b"k", b"\xff{not json", "ValueError", "bad")
    again = ConsumerDeadLetter.model_validate_json(dead.to_bytes())
    assert again.value == b"\xff{not json"
    assert (again.group, again.topic, again.partition, again.offset, again.key) == (
        "g",
        "t.events.project",
        2,
        41,
        "k",
    )
    assert (again.error_type, again.error) == ("ValueError", "bad")


def test_one_dead_stage_thread_stops_the_others_and_is_named():
    stopped = threading.Event()

    def healthy(stop: threading.Event) -> None:
        stop.wait()
        stopped.set()

    def dying(stop: threading.Event) -> None:
        raise KafkaException(KafkaError(KafkaError._FATAL))

    failed = run_until_one_fails([("healthy", healthy), ("dying", dying)], threading.Event())
    assert failed == ["dying"]
    assert stopped.is_set()


def test_a_stop_ends_every_thread_with_no_failure():
    stop = threading.Event()
    stop.set()
    assert run_until_one_fails([("a", lambda s: s.wait()), ("b", lambda s: s.wait())], stop) == []

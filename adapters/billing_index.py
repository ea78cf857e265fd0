"""What billing must look up that no event answers quickly: the payment provider's customer of a
user (and back), which user a payment belongs to, which provider events were handled, and facts
that came before the purchase they are about (a refund before its checkout), kept until it comes.

Postgres in the studio, in memory for unit tests. The customer id is personal: erasure forgets it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol
from uuid import UUID

from psycopg_pool import ConnectionPool

from domain.billing import BillingFact, Disputed, Refunded

SCHEMA = """
CREATE TABLE IF NOT EXISTS billing_customers (
    user_id uuid PRIMARY KEY,
    customer text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS billing_payments (
    payment text PRIMARY KEY,
    user_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS billing_payments_user ON billing_payments (user_id);
CREATE TABLE IF NOT EXISTS billing_provider_events (
    event_id text PRIMARY KEY,
    type text NOT NULL,
    outcome text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS billing_deferred (
    event_id text PRIMARY KEY,
    payment text NOT NULL,
    kind text NOT NULL,
    fact jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS billing_deferred_payment ON billing_deferred (payment);
"""

DEFERRABLE: dict[str, type[Refunded] | type[Disputed]] = {
    "Refunded": Refunded,
    "Disputed": Disputed,
}


class BillingIndex(Protocol):
    def customer_of(self, user_id: UUID) -> str | None: ...
    def user_of_customer(self, customer: str) -> UUID | None: ...
    def link_customer(self, user_id: UUID, customer: str) -> str:
        """Bind `customer` to the user unless one is bound already; returns the bound one."""
        ...

    def forget_customer(self, user_id: UUID) -> None: ...
    def note_payment(self, payment: str, user_id: UUID) -> None: ...
    def user_of_payment(self, payment: str) -> UUID | None: ...
    def handled(self, event_id: str) -> bool: ...
    def record(self, event_id: str, event_type: str, outcome: str) -> None: ...
    def defer(self, event_id: str, payment: str, fact: Refunded | Disputed) -> None: ...
    def take_deferred(self, payment: str) -> list[BillingFact]:
        """The facts deferred for `payment`, removed from the index."""
        ...


def _dump(fact: Refunded | Disputed) -> str:
    return json.dumps(dataclasses.asdict(fact))


def _load(kind: str, data: Any) -> BillingFact:
    fields = data if isinstance(data, dict) else json.loads(data)
    return DEFERRABLE[kind](**fields)


class PostgresBillingIndex:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def _one(self, sql: str, *args: Any) -> Any:
        with self._pool.connection() as conn:
            row = conn.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def _run(self, sql: str, *args: Any) -> None:
        with self._pool.connection() as conn:
            conn.execute(sql, args)

    def customer_of(self, user_id: UUID) -> str | None:
        found = self._one("SELECT customer FROM billing_customers WHERE user_id = %s", user_id)
        return None if found is None else str(found)

    def user_of_customer(self, customer: str) -> UUID | None:
        found = self._one("SELECT user_id FROM billing_customers WHERE customer = %s", customer)
        return None if found is None else UUID(str(found))

    def link_customer(self, user_id: UUID, customer: str) -> str:
        self._run(
            "INSERT INTO billing_customers (user_id, customer) VALUES (%s, %s) "
            "ON CONFLICT (user_id) DO NOTHING",
            user_id,
            customer,
        )
        bound = self.customer_of(user_id)
        assert bound is not None
        return bound

    def forget_customer(self, user_id: UUID) -> None:
        self._run("DELETE FROM billing_customers WHERE user_id = %s", user_id)
        self._run("DELETE FROM billing_payments WHERE user_id = %s", user_id)

    def note_payment(self, payment: str, user_id: UUID) -> None:
        self._run(
            "INSERT INTO billing_payments (payment, user_id) VALUES (%s, %s) "
            "ON CONFLICT (payment) DO NOTHING",
            payment,
            user_id,
        )

    def user_of_payment(self, payment: str) -> UUID | None:
        found = self._one("SELECT user_id FROM billing_payments WHERE payment = %s", payment)
        return None if found is None else UUID(str(found))

    def handled(self, event_id: str) -> bool:
        return bool(
            self._one("SELECT 1 FROM billing_provider_events WHERE event_id = %s", event_id)
        )

    def record(self, event_id: str, event_type: str, outcome: str) -> None:
        self._run(
            "INSERT INTO billing_provider_events (event_id, type, outcome) VALUES (%s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            event_id,
            event_type,
            outcome,
        )

    def defer(self, event_id: str, payment: str, fact: Refunded | Disputed) -> None:
        self._run(
            "INSERT INTO billing_deferred (event_id, payment, kind, fact) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            event_id,
            payment,
            type(fact).__name__,
            _dump(fact),
        )

    def take_deferred(self, payment: str) -> list[BillingFact]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "DELETE FROM billing_deferred WHERE payment = %s RETURNING kind, fact, received_at",
                (payment,),
            ).fetchall()
        return [_load(kind, fact) for kind, fact, _ in sorted(rows, key=lambda r: r[2])]


class InMemoryBillingIndex:
    def __init__(self) -> None:
        self.customers: dict[UUID, str] = {}
        self.payments: dict[str, UUID] = {}
        self.events: dict[str, tuple[str, str]] = {}
        self.deferred: dict[str, tuple[str, str, str]] = {}  # event id -> payment, kind, json

    def customer_of(self, user_id: UUID) -> str | None:
        return self.customers.get(user_id)

    def user_of_customer(self, customer: str) -> UUID | None:
        return next((u for u, c in self.customers.items() if c == customer), None)

    def link_customer(self, user_id: UUID, customer: str) -> str:
        return self.customers.setdefault(user_id, customer)

    def forget_customer(self, user_id: UUID) -> None:
        self.customers.pop(user_id, None)
        self.payments = {p: u for p, u in self.payments.items() if u != user_id}

    def note_payment(self, payment: str, user_id: UUID) -> None:
        self.payments.setdefault(payment, user_id)

    def user_of_payment(self, payment: str) -> UUID | None:
        return self.payments.get(payment)

    def handled(self, event_id: str) -> bool:
        return event_id in self.events

    def record(self, event_id: str, event_type: str, outcome: str) -> None:
        self.events.setdefault(event_id, (event_type, outcome))

    def defer(self, event_id: str, payment: str, fact: Refunded | Disputed) -> None:
        self.deferred.setdefault(event_id, (payment, type(fact).__name__, _dump(fact)))

    def take_deferred(self, payment: str) -> list[BillingFact]:
        taken = [e for e, (p, _, _) in self.deferred.items() if p == payment]
        return [_load(*self.deferred.pop(e)[1:]) for e in taken]

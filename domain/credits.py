"""The CreditAccount aggregate: a user's credits. The spendable balance never goes negative."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InsufficientCredits, Invalid

GRANT_SOURCES = ("purchase", "subscription", "admin")
CHARGE_PURPOSES = ("script_help",)  # services paid for at once, not reserved


def credit_account_id(user_id: UUID) -> UUID:
    """Each user has exactly one account, so its id derives from the user's."""
    return uuid5(NAMESPACE_URL, f"filmstudio:credits:{user_id}")


class CreditAccount(Aggregate):
    """`balance` is what can still be spent; reserved credits are held apart per production."""

    @staticmethod
    def create_id(user_id: UUID) -> UUID:
        return credit_account_id(user_id)

    @event("Opened")
    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.balance = 0
        self.reservations: dict[str, int] = {}
        self.settled: list[str] = []

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    def grant(self, amount: int, source: str, reason: str, reference: str) -> None:
        if amount <= 0:
            raise Invalid("a grant must be a positive number of credits")
        if source not in GRANT_SOURCES:
            raise Invalid(f"unknown grant source {source!r}")
        self._granted(amount, source, reason, reference)

    @event("Granted")
    def _granted(self, amount: int, source: str, reason: str, reference: str) -> None:
        self.balance += amount

    def charge(self, amount: int, purpose: str, reference: str) -> None:
        """Spend `amount` of the balance at once, for a service (`CHARGE_PURPOSES`)."""
        if amount <= 0:
            raise Invalid("a charge must be a positive number of credits")
        if purpose not in CHARGE_PURPOSES:
            raise Invalid(f"unknown charge purpose {purpose!r}")
        self.afford(amount)
        self._charged(amount, purpose, reference)

    def afford(self, amount: int) -> None:
        """InsufficientCredits unless the balance covers `amount`."""
        if amount > self.balance:
            raise InsufficientCredits(
                f"this needs {amount} credits and the balance is {self.balance}"
            )

    @event("Charged")
    def _charged(self, amount: int, purpose: str, reference: str) -> None:
        self.balance -= amount

    def reserve(self, production_id: UUID, amount: int) -> bool:
        """Hold credits for a production; False when it already holds (or held) them."""
        key = str(production_id)
        if key in self.reservations or key in self.settled:
            return False
        if amount <= 0:
            raise Invalid("a reservation must be a positive number of credits")
        if amount > self.balance:
            raise InsufficientCredits(
                f"this production needs {amount} credits and the balance is {self.balance}"
            )
        self._reserved(production_id, amount)
        return True

    @event("Reserved")
    def _reserved(self, production_id: UUID, amount: int) -> None:
        self.balance -= amount
        self.reservations[str(production_id)] = amount

    def capture(self, production_id: UUID, amount: int) -> None:
        """Spend `amount` of a reservation and give the rest back."""
        held = self.reservations.get(str(production_id))
        if held is None:
            if str(production_id) in self.settled:
                return
            raise Conflict("this production holds no reservation")
        if not 0 <= amount <= held:
            raise Invalid(f"cannot capture {amount} of a reservation of {held}")
        self._captured(production_id, amount, held - amount)

    @event("Captured")
    def _captured(self, production_id: UUID, amount: int, released: int) -> None:
        del self.reservations[str(production_id)]
        self.settled.append(str(production_id))
        self.balance += released

    def release(self, production_id: UUID) -> None:
        """Give a production's whole reservation back; a no-op when it holds none."""
        held = self.reservations.get(str(production_id))
        if held is not None:
            self._released(production_id, held)

    @event("Released")
    def _released(self, production_id: UUID, amount: int) -> None:
        del self.reservations[str(production_id)]
        self.settled.append(str(production_id))
        self.balance += amount

"""The CreditAccount aggregate: a user's credits. The spendable balance never goes negative."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InsufficientCredits, Invalid

GRANT_SOURCES = ("purchase", "subscription", "admin")
PURCHASE_SOURCES = ("purchase", "subscription")  # credits paid for (`Purchased`)
REVOKE_REASONS = ("refund", "dispute")
CHARGE_PURPOSES = ("script_help",)  # services paid for at once, not reserved
ENDED = "canceled"  # a subscription's last status


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
        self.owed = 0  # revoked credits that were already spent: settled from the next purchase
        self.purchases: dict[str, dict[str, int | str]] = {}  # reference -> credits, payment...
        self.subscriptions: dict[str, dict[str, object]] = {}  # provider id -> plan, status...
        self.failed_invoices: list[str] = []
        self.low_threshold: int | None = None  # set while a low-balance warning stands

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
        self._rose()

    # Purchases (the payment provider's webhook is their only source)

    def purchase(
        self,
        reference: str,
        payment: str,
        credits: int,
        source: str,
        plan_id: str,
        amount_cents: int,
        currency: str,
        invoice_url: str = "",
    ) -> bool:
        """Credits paid for, once per `reference` (a checkout session or an invoice); False for
        one already recorded. What is owed from earlier revocations is settled first."""
        if reference in self.purchases:
            return False
        if credits <= 0:
            raise Invalid("a purchase must be a positive number of credits")
        if source not in PURCHASE_SOURCES:
            raise Invalid(f"unknown purchase source {source!r}")
        settled = min(self.owed, credits)
        self._purchased(
            reference, payment, credits, source, plan_id, amount_cents, currency, invoice_url,
            settled,
        )  # fmt: skip
        return True

    @event("Purchased")
    def _purchased(
        self,
        reference: str,
        payment: str,
        credits: int,
        source: str,
        plan_id: str,
        amount_cents: int,
        currency: str,
        invoice_url: str,
        settled_debt: int,
    ) -> None:
        self.owed -= settled_debt
        self.balance += credits - settled_debt
        self.purchases[reference] = {"credits": credits, "payment": payment, "revoked": 0}
        self._rose()

    def purchase_of_payment(self, payment: str) -> str | None:
        """The reference of the purchase paid by `payment` (a payment intent or charge)."""
        if not payment:
            return None
        return next((r for r, p in self.purchases.items() if p["payment"] == payment), None)

    def revoke(self, purchase: str, total: int, reason: str, reference: str) -> int:
        """Take back credits of `purchase` until `total` of them are revoked (a refund's total
        grows with each partial refund; a dispute takes all). What the balance cannot cover is
        recorded as owed. Idempotent; returns the credits revoked now."""
        if reason not in REVOKE_REASONS:
            raise Invalid(f"unknown revocation reason {reason!r}")
        bought = self.purchases.get(purchase)
        if bought is None:
            raise Conflict("no such purchase on this account")
        due = min(total, int(bought["credits"])) - int(bought["revoked"])
        if due <= 0:
            return 0
        taken = min(due, self.balance)
        self._revoked(purchase, reference, reason, due, taken, due - taken)
        return due

    @event("Revoked")
    def _revoked(
        self, purchase: str, reference: str, reason: str, credits: int, taken: int, owed: int
    ) -> None:
        self.balance -= taken
        self.owed += owed
        self.purchases[purchase]["revoked"] = int(self.purchases[purchase]["revoked"]) + credits

    # Subscriptions

    def change_subscription(
        self,
        subscription: str,
        plan_id: str,
        status: str,
        period_end: int | None,
        cancel_at_period_end: bool = False,
    ) -> bool:
        """Record a subscription's state; a no-op when nothing changed or it already ended (an
        ended subscription never comes back, whatever order the provider's events arrive in)."""
        current = self.subscriptions.get(subscription)
        if current is not None and current["status"] == ENDED:
            return False
        plan_id = plan_id or str((current or {}).get("plan_id", ""))
        state = {
            "plan_id": plan_id,
            "status": status,
            "period_end": period_end,
            "cancel_at_period_end": cancel_at_period_end,
        }
        if current == state:
            return False
        self._subscription_changed(subscription, plan_id, status, period_end, cancel_at_period_end)
        return True

    @event("SubscriptionChanged")
    def _subscription_changed(
        self,
        subscription: str,
        plan_id: str,
        status: str,
        period_end: int | None,
        cancel_at_period_end: bool,
    ) -> None:
        self.subscriptions[subscription] = {
            "plan_id": plan_id,
            "status": status,
            "period_end": period_end,
            "cancel_at_period_end": cancel_at_period_end,
        }

    def subscription_payment_failed(
        self,
        invoice: str,
        subscription: str,
        amount_cents: int,
        currency: str,
        invoice_url: str = "",
    ) -> bool:
        """A renewal could not be paid; recorded once per invoice."""
        if invoice in self.failed_invoices:
            return False
        self._subscription_payment_failed(
            invoice, subscription, amount_cents, currency, invoice_url
        )
        return True

    @event("SubscriptionPaymentFailed")
    def _subscription_payment_failed(
        self, invoice: str, subscription: str, amount_cents: int, currency: str, invoice_url: str
    ) -> None:
        self.failed_invoices.append(invoice)

    # Low balance

    def warn_if_low(self, threshold: int) -> bool:
        """Record `BalanceLow` when the balance has fallen under `threshold`, once until it
        rises to it again."""
        if self.balance >= threshold or self.low_threshold is not None:
            return False
        self._balance_low(self.balance, threshold)
        return True

    @event("BalanceLow")
    def _balance_low(self, balance: int, threshold: int) -> None:
        self.low_threshold = threshold

    def _rose(self) -> None:
        if self.low_threshold is not None and self.balance >= self.low_threshold:
            self.low_threshold = None

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
        self._rose()

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
        self._rose()

"""The User aggregate. Personal data arrives encrypted: the domain never sees it in clear."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, Invalid, NotFound

ROLES = ("creator", "admin")
MAX_VOICE_SAMPLES = 20
EMAIL_LANGUAGES = ("en", "hi")  # the languages the studio's e-mails are written in


class User(Aggregate):
    """Someone who signed up. `*_cipher` fields are ciphertext under the user's own key."""

    @event("Registered")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library takes the aggregate id from here
        email_cipher: str,
        display_name_cipher: str,
        password_hash_cipher: str,
        role: str,
    ) -> None:
        self.email_cipher = email_cipher
        self.display_name_cipher = display_name_cipher
        self.password_hash_cipher = password_hash_cipher
        self.role = role
        self.verified = False
        self.password_version = 0  # one more at each password change: older tokens stop working
        self.email_language = "en"
        self.product_email = True  # non-essential e-mail (productions, low balance) wanted
        self.billing_customer_cipher: str | None = None
        self.erasing = False  # erasure requested: its steps run, then `erased`
        self.erased = False
        self.voice_samples: dict[str, float] = {}  # sample id -> seconds

    def add_voice_sample(self, sample_id: UUID, name_cipher: str, seconds: float) -> None:
        """A voice sample to clone from; the audio itself is stored encrypted beside the events."""
        self._check_not_erased()
        if str(sample_id) in self.voice_samples:
            return
        if len(self.voice_samples) >= MAX_VOICE_SAMPLES:
            raise Conflict(f"at most {MAX_VOICE_SAMPLES} voice samples: remove one first")
        self._voice_sample_added(sample_id, name_cipher, seconds)

    @event("VoiceSampleAdded")
    def _voice_sample_added(self, sample_id: UUID, name_cipher: str, seconds: float) -> None:
        self.voice_samples[str(sample_id)] = seconds

    def remove_voice_sample(self, sample_id: UUID) -> None:
        self._check_not_erased()
        if str(sample_id) not in self.voice_samples:
            raise NotFound("no such voice sample")
        self._voice_sample_removed(sample_id)

    @event("VoiceSampleRemoved")
    def _voice_sample_removed(self, sample_id: UUID) -> None:
        del self.voice_samples[str(sample_id)]

    def check_voice_samples(self, sample_ids: set[UUID]) -> None:
        missing = sorted(str(s) for s in sample_ids if str(s) not in self.voice_samples)
        if missing:
            raise Invalid(f"you have no voice sample {', '.join(missing)}")

    def change_profile(self, display_name_cipher: str) -> None:
        self._check_not_erased()
        self._profile_changed(display_name_cipher)

    @event("ProfileChanged")
    def _profile_changed(self, display_name_cipher: str) -> None:
        self.display_name_cipher = display_name_cipher

    def verify(self) -> None:
        self._check_not_erased()
        if not self.verified:
            self._verified()

    @event("Verified")
    def _verified(self) -> None:
        self.verified = True

    def change_password(self, password_hash_cipher: str) -> None:
        """A new password; every token issued before it stops working."""
        self._check_not_erased()
        self._password_changed(password_hash_cipher)

    @event("PasswordChanged")
    def _password_changed(self, password_hash_cipher: str) -> None:
        self.password_hash_cipher = password_hash_cipher
        self.password_version += 1

    def request_password_reset(self) -> None:
        """Someone asked for a reset link to this user's address (sent by e-mail, not here)."""
        self._check_not_erased()
        self._password_reset_requested()

    @event("PasswordResetRequested")
    def _password_reset_requested(self) -> None:
        pass

    def change_email_preferences(self, language: str | None, product_email: bool | None) -> None:
        self._check_not_erased()
        language = self.email_language if language is None else language
        if language not in EMAIL_LANGUAGES:
            raise Invalid(f"e-mail language must be one of {', '.join(EMAIL_LANGUAGES)}")
        product_email = self.product_email if product_email is None else product_email
        if (language, product_email) != (self.email_language, self.product_email):
            self._email_preferences_changed(language, product_email)

    @event("EmailPreferencesChanged")
    def _email_preferences_changed(self, language: str, product_email: bool) -> None:
        self.email_language = language
        self.product_email = product_email

    def link_billing_customer(self, customer_cipher: str) -> None:
        """The payment provider's customer of this user, once (encrypted: it is personal)."""
        self._check_not_erased()
        if self.billing_customer_cipher is None:
            self._billing_customer_linked(customer_cipher)

    @event("BillingCustomerLinked")
    def _billing_customer_linked(self, customer_cipher: str) -> None:
        self.billing_customer_cipher = customer_cipher

    @property
    def gone(self) -> bool:
        """Erased, or being erased: the user can no longer act or be acted for."""
        return self.erasing or self.erased

    def request_erasure(self) -> None:
        """Start forgetting this user; the erasure's steps follow, then `erase`. Idempotent."""
        if not self.gone:
            self._erasure_requested()

    @event("ErasureRequested")
    def _erasure_requested(self) -> None:
        self.erasing = True

    def erase(self) -> None:
        """The erasure's steps are done; idempotent."""
        if not self.erased:
            self._erased()

    @event("Erased")
    def _erased(self) -> None:
        self.erasing = False
        self.erased = True
        self.voice_samples = {}

    def _check_not_erased(self) -> None:
        if self.gone:
            raise Conflict("this user has been erased")

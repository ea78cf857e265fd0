"""The User aggregate. Personal data arrives encrypted: the domain never sees it in clear."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, Invalid, NotFound

ROLES = ("creator", "admin")
MAX_VOICE_SAMPLES = 20


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

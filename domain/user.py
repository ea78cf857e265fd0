"""The User aggregate. Personal data arrives encrypted: the domain never sees it in clear."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict

ROLES = ("creator", "admin")


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
        self.erased = False

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

    def erase(self) -> None:
        if not self.erased:
            self._erased()

    @event("Erased")
    def _erased(self) -> None:
        self.erased = True

    def _check_not_erased(self) -> None:
        if self.erased:
            raise Conflict("this user has been erased")

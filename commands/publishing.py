"""Publishing to YouTube: connecting a creator's channel (OAuth 2.0 with PKCE; the tokens sealed
under the creator's key), publishing a completed film (a `Publication`), and the facts the
publisher records as the upload goes. Disconnecting and erasure revoke the token at Google."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from adapters.eventstore import retry_on_conflict
from adapters.keystore import ERASED
from adapters.youtube import Tokens, YouTubeOAuth, YouTubeRefused
from adapters.youtube_store import StoredConnection, YouTubeStore
from commands.handlers import Studio
from domain.errors import Conflict, NotFound
from domain.production import Production
from domain.publication import Publication, PublishOptions, first_publication_id

log = logging.getLogger(__name__)

FLOW_SECONDS = 600  # how long a consent page may take
SUBTITLES_PREFIX = "subtitles."


class YouTubeNotConfigured(Exception):
    """No YouTube client is configured (503)."""


class ConnectRefused(Exception):
    """The callback's state is unknown or expired, or Google refused the code (400)."""


@dataclass(frozen=True)
class PublicationRequested:
    publication_id: UUID
    position: int


class Publishing:
    def __init__(
        self,
        studio: Studio,
        store: YouTubeStore,
        oauth: YouTubeOAuth | None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.studio = studio
        self.store = store
        self._oauth = oauth
        self._clock = clock

    @property
    def redirect_uri(self) -> str:
        return f"{self.studio.settings.public_url.rstrip('/')}/v1/youtube/callback"

    # Connecting a channel

    def connect_url(self, user_id: UUID) -> str:
        """Google's consent page for the user; its answer comes back to the callback."""
        oauth = self.oauth()
        self.studio.user(user_id)
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        expires = self._clock() + timedelta(seconds=FLOW_SECONDS)
        self.store.begin_flow(state, user_id, verifier, expires)
        return oauth.authorization_url(state, verifier, self.redirect_uri)

    def complete_connection(self, code: str, state: str) -> UUID:
        """Exchange the callback's `code` for tokens and keep them sealed; returns the user."""
        oauth = self.oauth()
        flow = self.store.take_flow(state)
        if flow is None:
            raise ConnectRefused("unknown or expired state: start connecting again")
        user_id, verifier = flow
        self.studio.user(user_id)
        try:
            tokens = oauth.exchange(code, verifier, self.redirect_uri)
        except YouTubeRefused as error:
            raise ConnectRefused(f"Google refused the code: {error.reason}") from None
        self.save_tokens(user_id, tokens)
        return user_id

    def connected(self, user_id: UUID) -> bool:
        return self.store.connection(user_id) is not None

    def disconnect(self, user_id: UUID) -> bool:
        """Revoke the user's token at Google and forget it; False when none was connected."""
        oauth = self.oauth()
        tokens = self.tokens(user_id)
        if tokens is None:
            return False
        oauth.revoke(tokens.refresh_token)
        self.store.delete_connection(user_id)
        return True

    def forget_connection(self, user_id: UUID) -> None:
        """Erasure step: revoke and delete the user's connection (before their key goes)."""
        tokens = self.tokens(user_id)
        if tokens is not None:
            if self._oauth is None:
                log.warning("no YouTube client configured: token of %s not revoked", user_id)
            else:
                self._oauth.revoke(tokens.refresh_token)
        self.store.delete_connection(user_id)

    def tokens(self, user_id: UUID) -> Tokens | None:
        """The user's tokens in the clear; None when not connected (or their key is gone)."""
        stored = self.store.connection(user_id)
        if stored is None:
            return None
        refresh = self.studio.keys.decrypt(user_id, stored.refresh_token)
        if refresh == ERASED:
            return None
        access = self.studio.keys.decrypt(user_id, stored.access_token)
        return Tokens(access, refresh, stored.expires_at, stored.scopes)

    def save_tokens(self, user_id: UUID, tokens: Tokens) -> None:
        keys = self.studio.keys
        self.store.save_connection(
            user_id,
            StoredConnection(
                keys.encrypt(user_id, tokens.refresh_token),
                keys.encrypt(user_id, tokens.access_token),
                tokens.expires_at,
                tokens.scopes,
            ),
        )

    def oauth(self) -> YouTubeOAuth:
        if self._oauth is None:
            raise YouTubeNotConfigured("YouTube publishing is not configured here")
        return self._oauth

    # Publishing a film

    def publish(
        self, owner_id: UUID, production_id: UUID, options: PublishOptions
    ) -> PublicationRequested:
        """Record a publication of a completed film of the owner; the publisher uploads it. A
        film published before is refused unless `options.republish`."""
        self.oauth()
        production = self.studio.store.find(production_id)
        if not isinstance(production, Production) or production.owner_id != owner_id:
            raise NotFound("no such production")
        self.studio.user(owner_id)
        if production.status != "completed":
            raise Conflict(f"only a completed film is published; this one is {production.status}")
        if not self.connected(owner_id):
            raise Conflict("connect your YouTube channel first (GET /v1/youtube/connect)")
        first = first_publication_id(production_id)

        def decide() -> PublicationRequested:
            publication_id = first
            if self.studio.store.find(first) is not None:
                if not options.republish:
                    raise Conflict("this film is published already; ask to republish")
                publication_id = uuid4()
            publication = Publication.request(
                publication_id,
                production_id,
                owner_id,
                options,
                film=production.artifacts["film"],
                captions={
                    name.removeprefix(SUBTITLES_PREFIX): key
                    for name, key in production.artifacts.items()
                    if name.startswith(SUBTITLES_PREFIX)
                },
            )
            return PublicationRequested(publication_id, self.studio.store.save_all(publication))

        return retry_on_conflict(decide)

    # What the publisher records

    def publication(self, publication_id: UUID) -> Publication:
        found = self.studio.store.find(publication_id)
        if not isinstance(found, Publication):
            raise NotFound("no such publication")
        return found

    def start_upload(self, publication_id: UUID) -> int | None:
        """Record a new upload attempt; None when the publication is finished already."""

        def decide() -> int | None:
            publication = self.publication(publication_id)
            if publication.finished:
                return None
            attempt = publication.start_upload()
            self.studio.store.save_all(publication)
            return attempt

        return retry_on_conflict(decide)

    def record_uploaded(
        self, publication_id: UUID, video_id: str, url: str, captions: list[str], thumbnail: bool
    ) -> None:
        def decide() -> None:
            publication = self.publication(publication_id)
            if publication.uploaded(video_id, url, captions, thumbnail):
                self.studio.store.save_all(publication)

        retry_on_conflict(decide)
        self.store.forget_session(publication_id)

    def record_failed(self, publication_id: UUID, reason: str) -> None:
        def decide() -> None:
            publication = self.publication(publication_id)
            if publication.state != "uploaded" and publication.fail(reason):
                self.studio.store.save_all(publication)

        retry_on_conflict(decide)
        self.store.forget_session(publication_id)

    def upload_session(self, publication: Publication) -> str | None:
        """The session URI of the publication's upload under way, in the clear."""
        sealed = self.store.session(publication.id)
        if sealed is None:
            return None
        uri = self.studio.keys.decrypt(publication.owner_id, sealed)
        return None if uri == ERASED else uri

    def keep_session(self, publication: Publication, session_uri: str) -> None:
        """Keep the upload's session URI (sealed: it writes to the creator's channel)."""
        sealed = self.studio.keys.encrypt(publication.owner_id, session_uri)
        self.store.save_session(publication.id, sealed)

"""The publisher: consumes ``studio.events.publication`` and, for each `publication.Requested`,
uploads the film to the creator's channel (resumable; the session URI is kept sealed before any
byte goes, so a killed publisher resumes where it stopped), then its captions per language (those
the video has already, from an attempt cut short, are not added again) and its thumbnail, and
records `Uploaded`, or `Failed` with Google's reason when YouTube refuses.

YouTube unavailable (quota, 5xx, the network) or an outage here: the same message is tried again
after a capped backoff. Offsets are committed only after the outcome is recorded; a redelivered
request of a finished publication does nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from uuid import UUID

from confluent_kafka import KafkaError, Message

from adapters import heartbeat, kafka
from adapters.media import MediaStore
from adapters.retry import Backoff, is_transient
from adapters.settings import Settings
from adapters.youtube import (
    Privacy,
    VideoMetadata,
    YouTubeRefused,
    YouTubeUnavailable,
    YouTubeUploader,
)
from commands.publishing import Publishing
from domain.publication import Publication
from schemas.envelope import Envelope

log = logging.getLogger(__name__)

POLL_TIMEOUT = 0.5
SESSION_MS = 10_000  # a killed publisher's partitions go to its successor within 10 s
FILM, THUMBNAIL, SRT = "film.mp4", "thumbnail.jpg", "subtitles.srt"
PRIVACIES: dict[str, Privacy] = {"private": "private", "unlisted": "unlisted", "public": "public"}


def metadata(publication: Publication) -> VideoMetadata:
    privacy = PRIVACIES[publication.privacy]
    return VideoMetadata(
        title=publication.title,
        description=publication.description,
        tags=tuple(publication.tags),
        privacy=privacy,
        category_id=publication.category,
        made_for_kids=publication.made_for_kids,
        publish_at=(
            None
            if publication.publish_at is None
            else datetime.fromisoformat(publication.publish_at)
        ),
    )


class Publisher:
    def __init__(self, settings: Settings, publishing: Publishing, media: MediaStore) -> None:
        self.settings = settings
        self.publishing = publishing
        self.media = media

    def handle(self, envelope: Envelope) -> None:
        """React to one publication event (only `Requested` asks for anything)."""
        if envelope.type == "publication.Requested":
            self.publish(envelope.aggregate.id)

    def publish(self, publication_id: UUID) -> None:
        """Upload the publication's film, captions and thumbnail; record the outcome."""
        publication = self.publishing.publication(publication_id)
        if publication.finished:
            return
        tokens = self.publishing.tokens(publication.owner_id)
        if tokens is None:
            self.publishing.record_failed(publication_id, "not_connected: connect YouTube again")
            return
        if self.publishing.start_upload(publication_id) is None:
            return
        uploader = YouTubeUploader(self.settings, tokens, self.settings.youtube_chunk_bytes)
        try:
            video = uploader.upload(
                self.media.path(publication.film, FILM),
                metadata(publication),
                session_uri=self.publishing.upload_session(publication),
                on_session=lambda uri: self.publishing.keep_session(publication, uri),
            )
            present = uploader.caption_languages(video.id)  # a retried attempt added some
            captions = sorted(publication.captions)
            for language in captions:
                if language not in present:
                    srt = self.media.path(publication.captions[language], SRT)
                    uploader.set_captions(video.id, language, srt, language)
            thumbnail = self.media.path(publication.film, THUMBNAIL)
            has_thumbnail = thumbnail.exists()
            if has_thumbnail:
                uploader.set_thumbnail(video.id, thumbnail)
        except YouTubeRefused as error:
            log.warning("publication %s refused: %s", publication_id, error.reason)
            self.publishing.record_failed(publication_id, str(error))
            return
        finally:
            self.publishing.save_tokens(publication.owner_id, uploader.tokens)  # refreshed
            uploader.close()
        self.publishing.record_uploaded(
            publication_id, video.id, video.url, captions, has_thumbnail
        )
        log.info("publication %s uploaded as video %s", publication_id, video.id)

    def run(self, stop: threading.Event) -> None:
        """Follow ``studio.events.publication`` until `stop`, one message at a time."""
        consumer = kafka.consumer(
            self.settings,
            self.settings.topics.group("publisher"),
            **{"session.timeout.ms": SESSION_MS},
        )
        consumer.subscribe([self.settings.topics.events("publication")])
        try:
            while not stop.is_set():
                heartbeat.beat()
                message = consumer.poll(POLL_TIMEOUT)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("publisher: %s", error)
                    continue
                if self._settle(message, stop):
                    consumer.commit(message=message, asynchronous=False)
        finally:
            consumer.close()

    def _settle(self, message: Message, stop: threading.Event) -> bool:
        """Handle `message` until it is done (True) or `stop` comes first (False)."""
        backoff = Backoff(initial=1.0, cap=60.0)
        try:
            envelope = Envelope.from_bytes(message.value() or b"")
        except ValueError:
            log.exception("publisher: an unreadable message at offset %s", message.offset())
            return True
        while not stop.is_set():
            try:
                self.handle(envelope)
                return True
            except Exception as error:
                if not (isinstance(error, YouTubeUnavailable) or is_transient(error)):
                    self._give_up(envelope, error)
                    return True
                wait = backoff.next()
                log.warning("publisher: %s; trying again in %.1f s", error, wait)
                stop.wait(wait)
        return False

    def _give_up(self, envelope: Envelope, error: Exception) -> None:
        """A request that can never be uploaded (its film gone, say): `Failed`, not a crash
        loop over the same message."""
        log.exception("publisher: %s of %s failed", envelope.type, envelope.aggregate.id)
        if envelope.type == "publication.Requested":
            reason = f"internal_error: {type(error).__name__}"
            self.publishing.record_failed(envelope.aggregate.id, reason)

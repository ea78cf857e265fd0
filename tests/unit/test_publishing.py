"""Publishing without a YouTube client, and what the publisher tells YouTube of a video."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from commands.publishing import Publishing, YouTubeNotConfigured
from domain.publication import Publication, PublishOptions
from processors.publisher import metadata


def test_without_a_youtube_client_nothing_is_connected_or_published(memory):
    publishing = Publishing(memory.studio, store=None, oauth=None)  # type: ignore[arg-type]
    user_id = memory.studio.register("a@example.com", "long enough pw", "A")[0]
    with pytest.raises(YouTubeNotConfigured):
        publishing.connect_url(user_id)
    with pytest.raises(YouTubeNotConfigured):
        publishing.publish(user_id, uuid4(), PublishOptions(title="t"))


def test_the_video_resource_says_what_the_creator_chose():
    when = datetime(2030, 5, 1, 18, tzinfo=UTC)
    options = PublishOptions(
        title="The Lamp",
        description="A short film.",
        tags=["short", "lamp"],
        category="22",
        made_for_kids=True,
        publish_at=when,
    )
    publication = Publication.request(uuid4(), uuid4(), uuid4(), options, "film", {})
    body = metadata(publication).body()
    assert body["snippet"] == {
        "title": "The Lamp",
        "description": "A short film.",
        "tags": ["short", "lamp"],
        "categoryId": "22",
    }
    assert body["status"] == {
        "privacyStatus": "private",
        "selfDeclaredMadeForKids": True,
        "publishAt": "2030-05-01T18:00:00Z",
    }

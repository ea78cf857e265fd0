"""The Publication aggregate and what a creator may ask of a video."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from domain.errors import Conflict
from domain.publication import Publication, PublishOptions, first_publication_id


def _publication(**options) -> Publication:
    return Publication.request(
        uuid4(),
        uuid4(),
        uuid4(),
        PublishOptions(title="The Lamp", **options),
        film="film-key",
        captions={"en": "subs-en"},
    )


def test_a_publication_is_uploaded_once_and_then_closed():
    publication = _publication(tags=["short"])
    assert (publication.state, publication.captions) == ("requested", {"en": "subs-en"})
    assert publication.start_upload() == 1
    assert publication.start_upload() == 2  # a resumed upload is another attempt
    assert publication.uploaded("vid1", "https://www.youtube.com/watch?v=vid1", ["en"], True)
    assert (publication.state, publication.video_id) == ("uploaded", "vid1")
    assert not publication.uploaded("vid1", "u", ["en"], True)  # a repeat changes nothing
    with pytest.raises(Conflict):
        publication.start_upload()
    with pytest.raises(Conflict):
        publication.fail("late")


def test_a_refused_upload_fails_with_its_reason():
    publication = _publication()
    publication.start_upload()
    assert publication.fail("uploadLimitExceeded: " + "x" * 1000)
    assert publication.state == "failed" and len(publication.failure) == 500
    assert not publication.fail("again")
    with pytest.raises(Conflict):
        publication.uploaded("v", "u", [], False)


def test_the_first_publication_of_a_production_has_a_fixed_id():
    production = uuid4()
    assert first_publication_id(production) == first_publication_id(production)
    assert first_publication_id(production) != first_publication_id(uuid4())


@pytest.mark.parametrize(
    "options",
    [
        {"title": ""},
        {"title": "x" * 101},
        {"title": "a <b>"},
        {"title": "t", "privacy": "secret"},
        {"title": "t", "tags": ["x" * 300, "y" * 300]},
        {"title": "t", "publish_at": datetime(2030, 1, 1, tzinfo=UTC), "privacy": "public"},
        {"title": "t", "publish_at": datetime(2030, 1, 1)},  # noqa: DTZ001 - the point
        {"title": "t", "category": "film"},
        {"title": "t", "surprise": 1},
    ],
)
def test_what_youtube_would_refuse_is_refused_first(options):
    with pytest.raises(ValidationError):
        PublishOptions(**options)


def test_a_scheduled_private_video_is_accepted_and_recorded_as_text():
    when = datetime(2030, 1, 1, 12, tzinfo=UTC)
    publication = _publication(publish_at=when, privacy="private")
    assert datetime.fromisoformat(publication.publish_at) == when


@pytest.mark.parametrize(
    "field", [{"title": "A\x00B"}, {"description": "line\x07"}, {"tags": ["ok", "bad\x1b"]}]
)
def test_control_characters_are_refused_in_every_text_of_a_publication(field):
    with pytest.raises(ValidationError):
        PublishOptions(**{"title": "The Lamp", **field})

"""One place chooses the media store: `bootstrap.media_store` by `settings.media_store`."""

from __future__ import annotations

import pytest

from adapters.media import LocalMediaStore
from adapters.s3_media import S3MediaStore
from adapters.settings import Settings
from filmstudio import bootstrap


def test_the_local_folder_is_the_default_store(unit_settings: Settings) -> None:
    store = bootstrap.media_store(unit_settings)
    assert isinstance(store, LocalMediaStore) and store.root == unit_settings.media_root


def test_s3_is_chosen_by_the_settings_with_their_bucket_prefix_and_link_lifetime(
    unit_settings: Settings,
) -> None:
    settings = unit_settings.model_copy(
        update={
            "media_store": "s3",
            "s3_bucket": "films",
            "s3_prefix": "/studio/",
            "s3_endpoint_url": "http://127.0.0.1:9",
            "s3_presign_seconds": 120,
        }
    )
    store = bootstrap.media_store(settings)
    assert isinstance(store, S3MediaStore)
    assert (store.bucket, store.layout.prefix, store.presign_seconds) == ("films", "studio", 120)
    assert store.cache_root == settings.media_root / "s3-cache"


def test_s3_without_a_bucket_is_refused_with_the_setting_to_set(unit_settings: Settings) -> None:
    with pytest.raises(ValueError, match="FILMSTUDIO_S3_BUCKET"):
        bootstrap.media_store(unit_settings.model_copy(update={"media_store": "s3"}))


def test_inputs_expire_after_a_week_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILMSTUDIO_S3_INPUTS_EXPIRE_DAYS", raising=False)
    assert Settings().s3_inputs_expire_days == 7
    monkeypatch.setenv("FILMSTUDIO_S3_INPUTS_EXPIRE_DAYS", "2")
    assert Settings().s3_inputs_expire_days == 2
    monkeypatch.setenv("FILMSTUDIO_S3_INPUTS_EXPIRE_DAYS", "0")
    with pytest.raises(ValueError, match="s3_inputs_expire_days"):
        Settings()

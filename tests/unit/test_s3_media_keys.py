"""The S3 media store without S3: where objects live, the manifest, links, lifecycle rules and
errors (boto3's Stubber answers in S3's place; presigning needs no server)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from urllib.parse import parse_qs, urlparse
from uuid import UUID, uuid4

import pytest
from botocore.stub import Stubber
from pydantic import SecretStr, ValidationError

from adapters.media import artifact_key
from adapters.s3_media import (
    LIFECYCLE_RULE_IDS,
    Layout,
    MediaStoreError,
    S3MediaStore,
    clean_prefix,
    content_type,
    manifest_of,
    read_manifest,
    s3_media_store,
)
from adapters.settings import Settings

KEY = artifact_key("film", "offline", "1", {"n": 1})
PRODUCTION = UUID("12345678-1234-5678-1234-567812345678")
SECRET = "s3cr3t-never-shown"


def store(tmp_path, prefix: str = "studio") -> S3MediaStore:
    return S3MediaStore(
        "films", tmp_path, prefix=prefix, endpoint_url="http://127.0.0.1:9",
        access_key_id="AKTEST", secret_access_key=SECRET,
    )  # fmt: skip


def test_artifacts_use_the_local_stores_content_addressed_layout_under_the_prefix():
    layout = Layout("studio")
    assert layout.object(KEY, "film.mp4") == f"studio/{KEY[:2]}/{KEY}/film.mp4"
    assert layout.manifest(KEY) == f"studio/{KEY[:2]}/{KEY}/.manifest.json"
    assert layout.folder(KEY) == f"studio/{KEY[:2]}/{KEY}/"
    assert Layout().object(KEY, "film.mp4") == f"{KEY[:2]}/{KEY}/film.mp4"


def test_inputs_live_per_production_beside_the_artifacts():
    assert Layout("studio").inputs(PRODUCTION, KEY) == f"studio/inputs/{PRODUCTION}/{KEY}.json"
    assert Layout().inputs_folder(PRODUCTION) == f"inputs/{PRODUCTION}/"
    assert Layout("a/b").lifecycle_prefix() == "a/b/inputs/"


@pytest.mark.parametrize(("given", "clean"), [("", ""), ("/studio/", "studio"), ("a//b/", "a/b")])
def test_prefixes_lose_stray_slashes(given, clean):
    assert clean_prefix(given) == clean


@pytest.mark.parametrize("prefix", ["../x", "a/./b"])
def test_prefixes_cannot_climb(prefix):
    with pytest.raises(ValueError):
        clean_prefix(prefix)


@pytest.mark.parametrize("name", ["../x", ".manifest.json", ".hidden", "a/b", ""])
def test_file_names_stay_inside_the_artifact_and_never_hit_the_manifest(name):
    with pytest.raises(ValueError):
        Layout().object(KEY, name)


def test_bad_keys_are_refused():
    with pytest.raises(ValueError):
        Layout().object("ABC", "film.mp4")


@pytest.mark.parametrize("upload_id", ["../inputs/x", "a/b", ""])
def test_an_upload_is_named_by_its_owner_and_id_only(upload_id):
    with pytest.raises(ValueError):
        Layout().upload(uuid4(), upload_id)  # type: ignore[arg-type]


def test_uploads_land_under_the_prefix_in_their_owners_folder():
    owner, upload_id = uuid4(), uuid4()
    assert Layout("studio").upload(owner, upload_id) == f"studio/uploads/{owner}/{upload_id}"
    assert Layout("studio").uploads_prefix() == "studio/uploads/"


def test_the_manifest_lists_every_file_with_size_and_sha256(tmp_path):
    (tmp_path / "film.mp4").write_bytes(b"film")
    (tmp_path / "empty.srt").write_bytes(b"")
    data = manifest_of({"film.mp4": tmp_path / "film.mp4", "empty.srt": tmp_path / "empty.srt"})
    assert json.loads(data) == {
        "format": 1,
        "files": {
            "empty.srt": {"size": 0, "sha256": hashlib.sha256(b"").hexdigest()},
            "film.mp4": {"size": 4, "sha256": hashlib.sha256(b"film").hexdigest()},
        },
    }
    assert read_manifest(data)["empty.srt"]["size"] == 0


def test_other_documents_are_not_manifests():
    with pytest.raises(ValueError):
        read_manifest(b'{"files": {}}')


def test_films_are_served_with_their_media_type():
    assert content_type("film.mp4") == "video/mp4"
    assert content_type("thumb.png") == "image/png"
    assert content_type("unknown.zzz") == "application/octet-stream"


def test_a_presigned_put_signs_the_content_type_and_the_upload_key(tmp_path):
    owner, upload_id = uuid4(), uuid4()
    url = store(tmp_path).presigned_put(owner, upload_id, "audio/wav", 120)
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.path == f"/films/studio/uploads/{owner}/{upload_id}"
    assert query["X-Amz-Expires"] == ["120"]
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert SECRET not in url


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1])
def test_links_last_one_second_to_seven_days(tmp_path, seconds):
    with pytest.raises(ValueError):
        store(tmp_path).presigned_put(uuid4(), uuid4(), "audio/wav", seconds)


def test_a_presigned_get_is_refused_for_a_file_the_artifact_lacks(tmp_path):
    s3 = store(tmp_path)
    manifest = json.dumps({"format": 1, "files": {"film.mp4": {"size": 1, "sha256": "x"}}})
    with Stubber(s3.client) as stub:
        stub.add_response("get_object", {"Body": _body(manifest.encode())})
        with pytest.raises(FileNotFoundError):
            s3.presigned_get(KEY, "thumb.png")
        stub.add_response("get_object", {"Body": _body(manifest.encode())})
        url = s3.presigned_get(KEY, "film.mp4", 60, download_as="the-lamp.mp4")
    assert urlparse(url).path == f"/films/studio/{KEY[:2]}/{KEY}/film.mp4"
    disposition = parse_qs(urlparse(url).query)["response-content-disposition"]
    assert disposition == ['attachment; filename="the-lamp.mp4"']


def test_s3_errors_surface_with_the_reason_and_without_the_secret(tmp_path):
    s3 = store(tmp_path)
    with Stubber(s3.client) as stub:
        stub.add_client_error(
            "get_object", "SignatureDoesNotMatch", "The request signature does not match",
            http_status_code=403,
        )  # fmt: skip
        with pytest.raises(MediaStoreError) as refused:
            s3.inputs(PRODUCTION, KEY)
    message = str(refused.value)
    assert "SignatureDoesNotMatch (HTTP 403)" in message
    assert f"s3://films/studio/inputs/{PRODUCTION}/{KEY}.json" in message
    assert SECRET not in message and "AKTEST" not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_a_refused_upload_surfaces_as_the_adapters_error(tmp_path):
    s3 = store(tmp_path)
    key = artifact_key("film", "offline", "1", {"n": 2})
    with Stubber(s3.client) as stub:
        stub.add_client_error("head_object", "404", "Not Found", http_status_code=404)
        stub.add_client_error("put_object", "AccessDenied", "Access Denied", http_status_code=403)
        with pytest.raises(MediaStoreError, match="AccessDenied") as refused, s3.writing(key) as f:
            (f / "film.mp4").write_bytes(b"film")
        stub.assert_no_pending_responses()
    assert SECRET not in str(refused.value)
    assert not (tmp_path / key[:2]).exists()  # nothing cached from a failed writer


def test_missing_objects_are_not_errors(tmp_path):
    s3 = store(tmp_path)
    with Stubber(s3.client) as stub:
        stub.add_client_error("head_object", "404", "Not Found", http_status_code=404)
        assert not s3.exists(KEY)
        stub.add_client_error("get_object", "NoSuchKey", "gone", http_status_code=404)
        with pytest.raises(FileNotFoundError):
            s3.inputs(PRODUCTION, KEY)
        stub.add_client_error("head_object", "403", "Forbidden", http_status_code=403)
        with pytest.raises(MediaStoreError):
            s3.exists(KEY)


def test_the_lifecycle_keeps_the_buckets_other_rules_and_replaces_ours(tmp_path):
    s3 = store(tmp_path)
    theirs = {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
              "Expiration": {"Days": 30}}  # fmt: skip
    stale = {"ID": LIFECYCLE_RULE_IDS[0], "Status": "Enabled", "Filter": {"Prefix": "x/"},
             "Expiration": {"Days": 99}}  # fmt: skip
    with Stubber(s3.client) as stub:
        stub.add_response("get_bucket_lifecycle_configuration", {"Rules": [theirs, stale]})
        stub.add_response(
            "put_bucket_lifecycle_configuration", {},
            {"Bucket": "films", "LifecycleConfiguration": {"Rules": [
                theirs,
                {"ID": LIFECYCLE_RULE_IDS[0], "Status": "Enabled",
                 "Filter": {"Prefix": "studio/inputs/"}, "Expiration": {"Days": 7}},
                {"ID": LIFECYCLE_RULE_IDS[1], "Status": "Enabled",
                 "Filter": {"Prefix": "studio/"},
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"ID": LIFECYCLE_RULE_IDS[2], "Status": "Enabled",
                 "Filter": {"Prefix": "studio/uploads/"}, "Expiration": {"Days": 1}},
            ]}},
        )  # fmt: skip
        assert s3.ensure_lifecycle(7) is True
        stub.assert_no_pending_responses()


def test_a_store_without_lifecycle_rules_is_tolerated(tmp_path, caplog):
    s3 = store(tmp_path)
    with Stubber(s3.client) as stub:
        stub.add_client_error(
            "get_bucket_lifecycle_configuration", "NoSuchLifecycleConfiguration", "none",
            http_status_code=404,
        )  # fmt: skip
        stub.add_client_error(
            "put_bucket_lifecycle_configuration", "NotImplemented", "not implemented",
            http_status_code=501,
        )  # fmt: skip
        assert s3.ensure_lifecycle(7) is False
    assert "no lifecycle rules" in caplog.text


def test_the_settings_choose_the_bucket_and_keys(tmp_path):
    settings = Settings(
        state_dir=tmp_path, media_store="s3", s3_bucket="films", s3_prefix="/prod/",
        s3_endpoint_url="http://127.0.0.1:9", s3_access_key_id="AKTEST",
        s3_secret_access_key=SecretStr(SECRET), s3_presign_seconds=600,
    )  # fmt: skip
    s3 = s3_media_store(settings)
    assert (s3.bucket, s3.layout.prefix, s3.presign_seconds) == ("films", "prod", 600)
    assert s3.cache_root == tmp_path / "media" / "s3-cache"
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert SECRET not in repr(settings)
    with pytest.raises(ValueError, match="FILMSTUDIO_S3_BUCKET"):
        s3_media_store(Settings(state_dir=tmp_path, media_store="s3"))


def test_the_media_store_is_local_unless_s3_is_chosen(monkeypatch):
    monkeypatch.delenv("FILMSTUDIO_MEDIA_STORE", raising=False)
    assert Settings().media_store == "local"
    monkeypatch.setenv("FILMSTUDIO_MEDIA_STORE", "gcs")
    with pytest.raises(ValidationError, match="media_store"):
        Settings()


def _body(data: bytes):
    from io import BytesIO

    from botocore.response import StreamingBody

    return StreamingBody(BytesIO(data), len(data))


def cached(root, n: int, size: int, age_seconds: float):
    key = artifact_key("film", "offline", "1", {"n": n})
    folder = root / key[:2] / key
    folder.mkdir(parents=True)
    (folder / "film.mp4").write_bytes(b"x" * size)
    then = time.time() - age_seconds
    os.utime(folder, (then, then))
    return folder


def test_the_cache_drops_unused_copies_then_the_least_recently_used(tmp_path):
    s3 = store(tmp_path)
    s3.cache_bytes, s3.cache_max_age_seconds = 250, 3600.0
    stale = cached(tmp_path, 1, 10, age_seconds=7200)  # unused for two hours: an erasure's
    oldest = cached(tmp_path, 2, 100, age_seconds=300)
    older = cached(tmp_path, 3, 100, age_seconds=200)
    recent = cached(tmp_path, 4, 100, age_seconds=100)
    assert s3.trim_cache() == 2
    assert not stale.exists() and not oldest.exists(), "the cache kept what it should drop"
    assert older.exists() and recent.exists()
    assert (tmp_path / ".staging").is_dir(), "the writers' staging folder is not the cache's"

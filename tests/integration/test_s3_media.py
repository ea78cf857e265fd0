"""The S3 media store against versitygw, an S3 server that checks signatures like S3."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from uuid import uuid4

import botocore.auth
import httpx
import pytest

from adapters.media import artifact_key
from adapters.s3_media import MediaStoreError, S3MediaStore, UploadTooLarge
from adapters.settings import PROJECT_ROOT
from tests.support.versitygw import S3Server

PART = 5 * 1024 * 1024  # S3's smallest multipart part


@pytest.fixture
def store(s3_server: S3Server, tmp_path) -> S3MediaStore:
    return make_store(s3_server, tmp_path / "cache", prefix=f"t{uuid4().hex[:8]}")


def make_store(server: S3Server, cache, prefix: str, secret: str | None = None) -> S3MediaStore:
    return S3MediaStore(
        server.bucket, cache, prefix=prefix, endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=secret or server.secret_access_key, multipart_bytes=PART,
    )  # fmt: skip


def objects(server: S3Server, prefix: str) -> list[str]:
    answer = server.client().list_objects_v2(Bucket=server.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in answer.get("Contents", []))


def open_uploads(server: S3Server, prefix: str) -> list[str]:
    answer = server.client().list_multipart_uploads(Bucket=server.bucket, Prefix=prefix)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def new_key() -> str:
    return artifact_key("test", "s3", "1", {"n": uuid4().hex})


def test_an_artifact_round_trips_through_the_bucket(store, s3_server, tmp_path):
    key = new_key()
    big = os.urandom(2 * PART + 123)  # uploaded in three parts
    assert not store.exists(key)
    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(big)
        (folder / "film.en.srt").write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    assert store.exists(key)
    assert store.names(key) == ["film.en.srt", "film.mp4"]
    folder_key = store.layout.folder(key)
    assert objects(s3_server, folder_key) == [
        folder_key + ".manifest.json", folder_key + "film.en.srt", folder_key + "film.mp4",
    ]  # fmt: skip

    shutil.rmtree(store.cache_root / key[:2])  # a reader on another machine downloads
    assert store.path(key, "film.mp4").read_bytes() == big
    with pytest.raises(FileNotFoundError):
        store.path(key, "thumb.png")

    assert store.delete(key)
    assert not store.exists(key)
    assert objects(s3_server, folder_key) == []
    with pytest.raises(FileNotFoundError):
        store.path(key, "film.mp4")
    assert not store.delete(key)


def test_a_file_changed_behind_the_manifests_back_is_not_served(store, s3_server):
    key = new_key()
    with store.writing(key) as folder:
        (folder / "frame.png").write_bytes(b"the frame")
    s3_server.client().put_object(
        Bucket=s3_server.bucket, Key=store.layout.object(key, "frame.png"), Body=b"the FRAME"
    )
    shutil.rmtree(store.cache_root / key[:2])
    with pytest.raises(MediaStoreError, match="does not match its manifest"):
        store.path(key, "frame.png")
    assert not (store.cache_root / key[:2] / key / "frame.png").exists()


def test_a_second_writer_of_a_finished_artifact_uploads_nothing(store):
    key = new_key()
    puts: list[str] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params["Key"])
    )
    with store.writing(key) as folder:
        (folder / "a.bin").write_bytes(b"first")
    assert puts == [store.layout.object(key, "a.bin"), store.layout.manifest(key)]
    puts.clear()
    with store.writing(key) as folder:
        (folder / "a.bin").write_bytes(b"second")
    assert puts == []
    assert store.path(key, "a.bin").read_bytes() == b"first"


def test_a_writer_failing_mid_upload_leaves_nothing_visible(store, s3_server):
    key = new_key()
    with pytest.raises(RuntimeError), store.writing(key) as folder:
        (folder / "half.wav").write_bytes(b"x")
        raise RuntimeError("worker died before the upload")
    assert objects(s3_server, store.layout.folder(key)) == []

    def fail_on_b(params, **_):
        if params["Key"].endswith("/b.bin"):
            raise ConnectionError("network gone")

    handler_id = "fail-on-b"
    event = "before-parameter-build.s3.PutObject"
    store.client.meta.events.register(event, fail_on_b, handler_id)
    with pytest.raises(ConnectionError), store.writing(key) as folder:
        (folder / "a.bin").write_bytes(b"a")
        (folder / "b.bin").write_bytes(b"b")
    assert objects(s3_server, store.layout.folder(key)) == [store.layout.object(key, "a.bin")]
    assert not store.exists(key)
    with pytest.raises(FileNotFoundError):
        store.path(key, "a.bin")

    store.client.meta.events.unregister(event, unique_id=handler_id)
    with store.writing(key) as folder:  # a later writer just writes again
        (folder / "a.bin").write_bytes(b"a")
        (folder / "b.bin").write_bytes(b"b")
    assert store.names(key) == ["a.bin", "b.bin"]


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from adapters.s3_media import S3MediaStore

    endpoint, bucket, access, prefix, key, cache = sys.argv[1:]
    store = S3MediaStore(bucket, Path(cache), prefix=prefix, endpoint_url=endpoint,
                         access_key_id=access, secret_access_key=os.environ["TEST_S3_SECRET"],
                         multipart_bytes=5 * 1024 * 1024)
    # SIGKILL once the first part of the multipart upload is in: no cleanup of any kind.
    store.client.meta.events.register(
        "after-call.s3.UploadPart", lambda **_: os.kill(os.getpid(), signal.SIGKILL))
    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(os.urandom(3 * 5 * 1024 * 1024))
""")


def test_a_writer_killed_mid_multipart_upload_leaves_nothing_visible(store, s3_server, tmp_path):
    key = new_key()
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, s3_server.endpoint_url, s3_server.bucket,
         s3_server.access_key_id, store.layout.prefix, key, str(tmp_path / "child-cache")],
        cwd=PROJECT_ROOT, env={**os.environ, "TEST_S3_SECRET": s3_server.secret_access_key},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert open_uploads(s3_server, store.layout.folder(key)) == [
        store.layout.object(key, "film.mp4")
    ]
    assert objects(s3_server, store.layout.folder(key)) == []  # an open upload shows nothing
    assert not store.exists(key)

    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(b"whole")
    assert store.path(key, "film.mp4").read_bytes() == b"whole"
    assert store.delete(key)  # erasure leaves no bytes behind, open uploads included
    assert open_uploads(s3_server, store.layout.folder(key)) == []


def test_claim_checked_inputs_round_trip(store):
    production, keys = uuid4(), sorted(new_key() for _ in range(3))
    for number, key in enumerate(keys):
        store.put_inputs(production, key, json.dumps({"line": number}).encode())
    assert store.input_keys(production) == keys
    assert json.loads(store.inputs(production, keys[1])) == {"line": 1}
    assert store.input_keys(uuid4()) == []
    store.delete_inputs(production)
    assert store.input_keys(production) == []
    with pytest.raises(FileNotFoundError):
        store.inputs(production, keys[0])


def test_a_wrong_secret_is_refused_and_never_shown(s3_server, store, tmp_path):
    key = new_key()
    store.put_inputs(uuid4(), key, b"{}")
    wrong = "not-the-secret-" + uuid4().hex
    intruder = make_store(s3_server, tmp_path / "intruder", store.layout.prefix, secret=wrong)
    with pytest.raises(MediaStoreError, match="SignatureDoesNotMatch") as refused:
        intruder.put_inputs(uuid4(), key, b"{}")
    with pytest.raises(MediaStoreError, match="HTTP 403"):
        intruder.exists(key)  # refused, not "missing"
    assert wrong not in str(refused.value)
    assert s3_server.secret_access_key not in str(refused.value)


def one_second_film(path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-pix_fmt", "yuv420p",
         "-c:v", "libx264", "-c:a", "aac", "-movflags", "+faststart", str(path)],
        check=True,
    )  # fmt: skip


def test_a_presigned_link_to_a_film_plays(store):
    key = new_key()
    with store.writing(key) as folder:
        one_second_film(folder / "film.mp4")
    url = store.presigned_get(key, "film.mp4", 300)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
         "-of", "json", url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = json.loads(probe.stdout)
    assert float(found["format"]["duration"]) == pytest.approx(1.0, abs=0.1)
    assert {s["codec_name"] for s in found["streams"]} == {"h264", "aac"}
    answer = httpx.get(url)
    assert answer.headers["content-type"] == "video/mp4"
    tampered = url.replace("film.mp4", "film.mp5")
    assert httpx.get(tampered).status_code == 403


def test_a_presigned_put_uploads_with_its_content_type_only(store):
    owner, upload_id = uuid4(), uuid4()
    url = store.presigned_put(owner, upload_id, "audio/wav", 300)
    refused = httpx.put(url, content=b"RIFF....", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 403
    with pytest.raises(FileNotFoundError):
        store.read_upload(owner, upload_id, 100)
    answer = httpx.put(url, content=b"RIFF....", headers={"Content-Type": "audio/wav"})
    assert answer.status_code == 200, answer.text
    with pytest.raises(FileNotFoundError):
        store.read_upload(uuid4(), upload_id, 100)  # another user's
    with pytest.raises(UploadTooLarge):
        store.read_upload(owner, upload_id, 7)
    assert store.read_upload(owner, upload_id, 8) == b"RIFF...."
    store.delete_upload(owner, upload_id)
    with pytest.raises(FileNotFoundError):
        store.read_upload(owner, upload_id, 100)


def test_an_owners_uploads_are_deleted_with_them(store):
    owner, other = uuid4(), uuid4()
    for user in (owner, owner, other):
        url = store.presigned_put(user, uuid4(), "text/plain", 60)
        assert httpx.put(url, content=b"INT.", headers={"Content-Type": "text/plain"}).is_success
    store.delete_uploads(owner)
    assert store._list(store.layout.uploads_folder(owner)) == []
    assert len(store._list(store.layout.uploads_folder(other))) == 1


def test_an_expired_presigned_link_is_refused(store, monkeypatch):
    key = new_key()
    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(b"film")
    assert httpx.get(store.presigned_get(key, "film.mp4", 60)).status_code == 200
    signed_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        hours=2
    )
    manifest = store.manifest(key)
    monkeypatch.setattr(store, "manifest", lambda _key: manifest)  # the clock is for the link
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda **_: signed_at)
    expired = store.presigned_get(key, "film.mp4", 60)  # signed two hours ago, for a minute
    answer = httpx.get(expired)
    assert answer.status_code == 403
    assert "expired" in answer.text.lower()


def test_a_store_without_lifecycle_rules_is_tolerated(store):
    assert store.ensure_lifecycle(7) is False  # versitygw's posix backend has none


def test_another_machines_cached_copy_goes_once_the_artifact_is_deleted(store, s3_server, tmp_path):
    key = new_key()
    with store.writing(key) as folder:
        (folder / "film.mp4").write_bytes(b"a film of someone erased")
    reader = make_store(s3_server, tmp_path / "other-machine", prefix=store.layout.prefix)
    copy = reader.path(key, "film.mp4")
    assert copy.read_bytes() == b"a film of someone erased"
    assert store.delete(key)
    with pytest.raises(FileNotFoundError):
        reader.path(key, "film.mp4")
    assert not copy.exists(), "the other machine still holds the deleted film"

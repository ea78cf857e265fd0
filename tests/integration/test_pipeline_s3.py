"""The studio with its media on S3 (versitygw, which checks signatures): the example script renders
through Kafka with every artifact and claim-checked input in the bucket, none in the local media
folder, and the film route answers a presigned link that ffprobe reads."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from adapters.media import LocalMediaStore
from adapters.s3_media import MANIFEST_NAME
from adapters.settings import Settings
from tests.integration.conftest import free_port, start_studio
from tests.integration.test_model_backends import voice_sample
from tests.integration.test_pipeline import LAMP, creator, produce, wait_for
from tests.support.versitygw import S3Server


@pytest.fixture(scope="module")
def on_s3(
    isolated_settings: Callable[[], Settings], s3_server: S3Server, tmp_path_factory
) -> Iterator[dict]:
    """API, relay, projections, saga and draft workers with `media_store="s3"`."""
    settings = isolated_settings().model_copy(
        update={
            "api_port": free_port(),
            "media_dir": tmp_path_factory.mktemp("media"),
            "media_store": "s3",
            "s3_bucket": s3_server.bucket,
            "s3_prefix": "studio",
            "s3_endpoint_url": s3_server.endpoint_url,
            "s3_region": s3_server.region,
            "s3_access_key_id": s3_server.access_key_id,
            "s3_secret_access_key": s3_server.secret_access_key,
            "s3_presign_seconds": 600,
        }
    )
    logs = tmp_path_factory.mktemp("pipeline-s3-logs")
    base_url, processes = start_studio(settings, logs, "saga", "workers")
    client = httpx.Client(base_url=base_url, timeout=30)
    admin = client.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    )
    yield {
        "settings": settings,
        "client": client,
        "admin": {"Authorization": f"Bearer {admin.json()['access_token']}"},
        "processes": processes,
        "s3": s3_server,
    }
    client.close()
    for process in reversed(processes):
        process.stop()


def bucket_keys(server: S3Server) -> set[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=server.bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def ffprobe(url: str) -> dict:
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", url],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert probed.returncode == 0, f"ffprobe could not read the presigned film: {probed.stderr}"
    return json.loads(probed.stdout)


def test_a_film_renders_onto_s3_and_plays_from_a_presigned_link(on_s3):
    settings, client, server = on_s3["settings"], on_s3["client"], on_s3["s3"]
    headers = creator(on_s3)
    auth = {"Authorization": headers["Authorization"]}
    _, production_id = produce(on_s3, headers, LAMP, {"languages": ["en"]})
    done = wait_for(on_s3, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]

    stored = bucket_keys(server)
    inputs = sorted(
        k.rsplit("/", 1)[1].removesuffix(".json")
        for k in stored
        if k.startswith(f"studio/inputs/{production_id}/")
    )
    assert inputs, f"no claim-checked inputs of {production_id} in the bucket: {sorted(stored)}"
    keys = set(done["artifacts"].values()) | set(inputs)
    missing = sorted(k for k in keys if f"studio/{k[:2]}/{k}/{MANIFEST_NAME}" not in stored)
    assert missing == [], f"artifacts not in the bucket: {missing}"
    assert f"studio/{done['artifacts']['film'][:2]}/{done['artifacts']['film']}/film.mp4" in stored

    local = LocalMediaStore(settings.media_root)
    assert [k for k in keys if local.exists(k)] == [], "artifacts in the local media folder"
    assert local.input_keys(production_id) == [], "inputs in the local media folder"

    film = client.get(f"/v1/productions/{production_id}/film", headers=auth)
    assert film.status_code == 307, film.text
    location = film.headers["location"]
    assert location.startswith(f"{server.endpoint_url}/{server.bucket}/studio/")
    assert "X-Amz-Signature=" in urlsplit(location).query, f"not presigned: {location}"
    probed = ffprobe(location)
    assert float(probed["format"]["duration"]) > 0
    codecs = {s["codec_type"]: s["codec_name"] for s in probed["streams"]}
    assert codecs.get("video") == "h264", codecs

    tampered = location.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered, timeout=30).status_code == 403, "versitygw accepted a bad signature"

    link = client.get(f"/v1/productions/{production_id}/film/link", headers=auth)
    assert link.status_code == 200, link.text
    assert "X-Amz-Signature=" in link.json()["url"] and link.json()["expires_at"] is not None
    thumbnail = client.get(f"/v1/productions/{production_id}/thumbnail.jpg", headers=auth)
    assert thumbnail.status_code == 307
    assert httpx.get(thumbnail.headers["location"], timeout=30).content[:2] == b"\xff\xd8"
    subtitles = client.get(f"/v1/productions/{production_id}/subtitles/en.vtt", headers=auth)
    assert subtitles.status_code == 307
    assert httpx.get(subtitles.headers["location"], timeout=30).text.startswith("WEBVTT")


def put_upload(client: httpx.Client, auth: dict, purpose: str, mime: str, data: bytes) -> str:
    """Ask for a presigned PUT and send `data` straight to the bucket; the upload's id."""
    ticket = client.post(
        "/v1/uploads", json={"purpose": purpose, "content_type": mime}, headers=auth
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    assert "/studio/uploads/" in urlsplit(body["url"]).path
    sent = httpx.put(body["url"], content=data, headers=body["headers"])
    assert sent.status_code == 200, sent.text
    return body["upload_id"]


def test_voice_samples_and_scripts_go_straight_to_the_bucket(on_s3, tmp_path):
    client, server = on_s3["client"], on_s3["s3"]
    headers = creator(on_s3)
    auth = {"Authorization": headers["Authorization"]}

    audio = voice_sample(tmp_path / "me.wav")
    upload_id = put_upload(client, auth, "voice-sample", "audio/wav", audio)
    stranger = {"Authorization": creator(on_s3)["Authorization"]}
    taken_by_stranger = client.post(
        f"/v1/uploads/{upload_id}/voice-sample", json={"name": "Me"}, headers=stranger
    )
    assert taken_by_stranger.status_code == 404, "another user took the upload"
    added = client.post(f"/v1/uploads/{upload_id}/voice-sample", json={"name": "Me"}, headers=auth)
    assert added.status_code == 201, added.text
    assert added.json()["seconds"] == pytest.approx(4.0, abs=0.1)
    listed = client.get(
        "/v1/voices", headers=auth, params={"min_position": added.json()["position"]}
    )
    assert [v["name"] for v in listed.json()] == ["Me"]
    again = client.post(f"/v1/uploads/{upload_id}/voice-sample", json={"name": "Me"}, headers=auth)
    assert again.status_code == 404, "a taken upload is not deleted"

    noise = put_upload(client, auth, "voice-sample", "audio/wav", b"not audio at all")
    refused = client.post(f"/v1/uploads/{noise}/voice-sample", json={"name": "Noise"}, headers=auth)
    assert refused.status_code == 415, refused.text

    project = client.post("/v1/projects", json={"title": "Uploaded"}, headers=auth).json()
    path = f"/v1/projects/{project['project_id']}/script/from-upload"
    script_id = put_upload(client, auth, "script", "text/plain", LAMP.encode())
    revised = client.put(path, json={"upload_id": script_id, "format": "fountain"}, headers=auth)
    assert revised.status_code == 200, revised.text
    shown = client.get(
        f"/v1/projects/{project['project_id']}",
        headers=auth,
        params={"min_position": revised.json()["position"]},
    ).json()
    assert shown["script"] == {"format": "fountain", "text": LAMP}

    binary = put_upload(client, auth, "script", "text/plain", b"\xff\xfe\x00bad")
    not_text = client.put(path, json={"upload_id": binary, "format": "plain"}, headers=auth)
    assert not_text.status_code == 422 and "UTF-8" in not_text.text, not_text.text
    huge = put_upload(client, auth, "script", "text/plain", b"x" * 400_001)
    too_large = client.put(path, json={"upload_id": huge, "format": "plain"}, headers=auth)
    assert too_large.status_code == 413, too_large.text
    wrong_type = client.post(
        "/v1/uploads", json={"purpose": "script", "content_type": "image/png"}, headers=auth
    )
    assert wrong_type.status_code == 422, wrong_type.text

    assert {k for k in bucket_keys(server) if "/uploads/" in k} == set(), "uploads left"
    put_upload(client, auth, "script", "text/plain", b"never taken")
    assert client.delete("/v1/me", headers=auth).status_code == 202
    left = {k for k in bucket_keys(server) if "/uploads/" in k}
    assert left == set(), f"the erased user's uploads are left in the bucket: {left}"

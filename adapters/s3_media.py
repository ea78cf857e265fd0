"""The media store on S3 (boto3): AWS S3 or any S3-compatible store (MinIO, Ceph, versitygw).

Objects use the local store's content-addressed layout, `<prefix>/<key[:2]>/<key>/<name>`, and
claim-checked inputs live under `<prefix>/inputs/<production>/<key>.json`. An artifact exists
once its manifest (`<prefix>/<key[:2]>/<key>/.manifest.json`, written LAST, after every file was
uploaded; large files by multipart, which S3 shows only when completed) is there: a writer killed
mid-upload leaves no manifest, so nothing partial is visible, and a later writer writes again.
`path` downloads a file into a local cache (checked against the manifest) and returns it.

Every S3 failure surfaces as `MediaStoreError` with S3's code and message, never a credential.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from adapters.media import INPUTS_FOLDER, KEY_LENGTH, check_key

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from adapters.settings import Settings

log = logging.getLogger(__name__)

MANIFEST_NAME = ".manifest.json"
MANIFEST_FORMAT = 1
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
MULTIPART_BYTES = 8 * 1024 * 1024
CACHE_BYTES = 20 * 1024**3
CACHE_MAX_AGE_SECONDS = 24 * 3600.0
TRIM_EVERY_SECONDS = 600.0
UPLOADS_FOLDER = "uploads"
LIFECYCLE_RULE_IDS = (
    "filmstudio-inputs-expiry",
    "filmstudio-abort-incomplete-uploads",
    "filmstudio-uploads-expiry",
)
UPLOADS_EXPIRE_DAYS = 1  # an upload nobody took (a browser closed mid-way) goes after a day
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
NOT_IMPLEMENTED_CODES = frozenset({"NotImplemented", "501"})


class MediaStoreError(Exception):
    """S3 refused or failed a request; the message says why (S3's code and message)."""


class UploadTooLarge(ValueError):
    """An upload holds more bytes than its purpose allows."""


# -- the layout (pure: no S3) -----------------------------------------------------------------


def check_name(name: str) -> str:
    """A file name of an artifact: no folders, not hidden (so never the manifest)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"not a file name: {name!r}")
    return name


def clean_prefix(prefix: str) -> str:
    """The prefix without surrounding slashes; `..`, `.` and empty segments refused."""
    parts = [part for part in prefix.strip("/").split("/") if part]
    if any(part in {".", ".."} for part in parts):
        raise ValueError(f"not an object prefix: {prefix!r}")
    return "/".join(parts)


@dataclass(frozen=True)
class Layout:
    """Where things live in the bucket, under an optional prefix."""

    prefix: str = ""

    def _join(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def folder(self, key: str) -> str:
        """The artifact's objects' common prefix (ends with a slash)."""
        return self._join(check_key(key)[:2], key) + "/"

    def object(self, key: str, name: str) -> str:
        return self.folder(key) + check_name(name)

    def manifest(self, key: str) -> str:
        return self.folder(key) + MANIFEST_NAME

    def inputs_folder(self, production_id: UUID) -> str:
        return self._join(INPUTS_FOLDER, str(UUID(str(production_id)))) + "/"

    def inputs(self, production_id: UUID, key: str) -> str:
        return self.inputs_folder(production_id) + f"{check_key(key)}.json"

    def lifecycle_prefix(self) -> str:
        return self._join(INPUTS_FOLDER) + "/"

    def uploads_folder(self, owner: UUID) -> str:
        """Where a user's presigned-PUT uploads wait to be taken (ends with a slash)."""
        return self._join(UPLOADS_FOLDER, str(UUID(str(owner)))) + "/"

    def upload(self, owner: UUID, upload_id: UUID) -> str:
        return self.uploads_folder(owner) + str(UUID(str(upload_id)))

    def uploads_prefix(self) -> str:
        return self._join(UPLOADS_FOLDER) + "/"


def manifest_of(files: dict[str, Path]) -> bytes:
    """The manifest of a staged artifact: each file's size and SHA-256, by name."""
    entries = {
        check_name(name): {"size": path.stat().st_size, "sha256": sha256_of(path)}
        for name, path in sorted(files.items())
    }
    return json.dumps({"format": MANIFEST_FORMAT, "files": entries}, sort_keys=True).encode()


def read_manifest(data: bytes) -> dict[str, dict[str, Any]]:
    """The files a manifest lists (ValueError when it is not one)."""
    document = json.loads(data)
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        raise ValueError("not a media manifest")
    return cast(dict[str, dict[str, Any]], document["files"])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# -- the store --------------------------------------------------------------------------------


class S3MediaStore:
    """The `MediaStore` protocol on an S3 bucket, with a local download cache."""

    def __init__(
        self,
        bucket: str,
        cache_root: Path,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        presign_seconds: int = 3600,
        multipart_bytes: int = MULTIPART_BYTES,
        cache_bytes: int = CACHE_BYTES,
        cache_max_age_seconds: float = CACHE_MAX_AGE_SECONDS,
    ) -> None:
        self.bucket = bucket
        self.cache_bytes = cache_bytes
        self.cache_max_age_seconds = cache_max_age_seconds
        self._trimmed_at = time.monotonic()
        self.layout = Layout(clean_prefix(prefix))
        self.cache_root = cache_root
        self.presign_seconds = presign_seconds
        self._staging_root = cache_root / ".staging"
        self._staging_root.mkdir(parents=True, exist_ok=True)
        config = Config(
            signature_version="s3v4",
            # A custom endpoint (MinIO, Ceph, versitygw) rarely has per-bucket DNS names.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=60,
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_bytes, multipart_chunksize=multipart_bytes
        )

    # -- errors

    def _failed(self, error: Exception, action: str, object_key: str) -> MediaStoreError:
        if isinstance(error, ClientError):
            details = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            reason = f"{details.get('Code', '?')} (HTTP {status}): {details.get('Message', '')}"
        else:  # botocore's and boto3's own errors name endpoints and paths, never keys
            reason = f"{type(error).__name__}: {error}"
        return MediaStoreError(f"S3 {action} of s3://{self.bucket}/{object_key} failed: {reason}")

    @staticmethod
    def _code(error: ClientError) -> str:
        return str(error.response.get("Error", {}).get("Code", ""))

    def _get(self, object_key: str) -> bytes | None:
        """An object's bytes; None when there is none."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=object_key)
            return answer["Body"].read()
        except ClientError as error:
            if self._code(error) in NOT_FOUND_CODES:
                return None
            raise self._failed(error, "GET", object_key) from None
        except BotoCoreError as error:
            raise self._failed(error, "GET", object_key) from None

    def _put(self, object_key: str, data: bytes, mime: str) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data, ContentType=mime)
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error, "PUT", object_key) from None

    def _list(self, folder: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            return [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error, "LIST", folder) from None

    def _delete(self, object_keys: list[str]) -> None:
        for start in range(0, len(object_keys), 1000):
            batch = object_keys[start : start + 1000]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as error:
                raise self._failed(error, "DELETE", batch[0]) from None
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise MediaStoreError(
                    f"S3 DELETE of s3://{self.bucket}/{first.get('Key')} failed: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    # -- artifacts

    def manifest(self, key: str) -> dict[str, dict[str, Any]] | None:
        """The files of a finished artifact by name (size, sha256); None when it does not exist."""
        data = self._get(self.layout.manifest(key))
        return None if data is None else read_manifest(data)

    def exists(self, key: str) -> bool:
        object_key = self.layout.manifest(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=object_key)
            return True
        except ClientError as error:
            if self._code(error) in NOT_FOUND_CODES:
                return False
            raise self._failed(error, "HEAD", object_key) from None
        except BotoCoreError as error:
            raise self._failed(error, "HEAD", object_key) from None

    def names(self, key: str) -> list[str]:
        return sorted(self.manifest(key) or {})

    def path(self, key: str, name: str) -> Path:
        """The file downloaded into the cache (kept while its size matches the manifest)."""
        object_key = self.layout.object(key, name)
        manifest = self.manifest(key)
        cached = self.cache_root / key[:2] / key / name
        if manifest is None:  # deleted (an erasure, say): so is any copy cached here
            shutil.rmtree(cached.parent, ignore_errors=True)
        entry = (manifest or {}).get(name)
        if entry is None:
            raise FileNotFoundError(f"artifact {key} has no {name}")
        if cached.is_file() and cached.stat().st_size == entry["size"]:
            os.utime(cached.parent)  # in use: the last to be trimmed
            return cached
        self._trim_now_and_then()
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(prefix=f".{name}.", dir=cached.parent)
        os.close(fd)
        try:
            try:
                self.client.download_file(self.bucket, object_key, staging, Config=self._transfer)
            except (ClientError, BotoCoreError, Boto3Error) as error:
                raise self._failed(error, "GET", object_key) from None
            if sha256_of(Path(staging)) != entry["sha256"]:
                raise MediaStoreError(
                    f"s3://{self.bucket}/{object_key} does not match its manifest"
                )
            os.replace(staging, cached)
        finally:
            Path(staging).unlink(missing_ok=True)
        return cached

    @contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """Fill the yielded folder; on success its files are uploaded, then the manifest (first
        finished writer wins: when the manifest is there already, nothing is uploaded)."""
        check_key(key)
        staging = Path(tempfile.mkdtemp(prefix=f"{key[:12]}-", dir=self._staging_root))
        try:
            yield staging
            files = {path.name: path for path in staging.iterdir()}
            for name, path in files.items():
                if not path.is_file():
                    raise ValueError(f"an artifact holds files only, not {name!r}")
                check_name(name)
            if self.exists(key):
                return
            manifest = manifest_of(files)
            for name, path in sorted(files.items()):
                object_key = self.layout.object(key, name)
                try:
                    self.client.upload_file(
                        str(path), self.bucket, object_key,
                        ExtraArgs={"ContentType": content_type(name)}, Config=self._transfer,
                    )  # fmt: skip
                except (ClientError, BotoCoreError, Boto3Error) as error:
                    raise self._failed(error, "PUT", object_key) from None
            self._put(self.layout.manifest(key), manifest, "application/json")
            self._keep_in_cache(key, files)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _keep_in_cache(self, key: str, files: dict[str, Path]) -> None:
        """The writer's files become the cache's copies (no download for a local reader)."""
        self._trim_now_and_then()
        folder = self.cache_root / key[:2] / key
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in files.items():
            os.replace(path, folder / name)

    # -- the download cache

    def _trim_now_and_then(self) -> None:
        if time.monotonic() - self._trimmed_at >= TRIM_EVERY_SECONDS:
            self._trimmed_at = time.monotonic()
            self.trim_cache()

    def trim_cache(self) -> int:
        """Drop cached artifacts unused for `cache_max_age_seconds` (so an erased user's media
        leaves every machine's cache within that time), then the least recently used ones
        until the cache holds at most `cache_bytes`; returns how many were dropped."""
        folders = [
            folder
            for shard in self.cache_root.iterdir()
            if shard.is_dir() and len(shard.name) == 2
            for folder in shard.iterdir()
            if folder.is_dir()
        ]
        used = {folder: folder.stat().st_mtime for folder in folders}
        sizes = {f: sum(p.stat().st_size for p in f.iterdir() if p.is_file()) for f in folders}
        cutoff = time.time() - self.cache_max_age_seconds
        total = sum(sizes.values())
        dropped = 0
        for folder in sorted(folders, key=used.__getitem__):
            if used[folder] >= cutoff and total <= self.cache_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= sizes[folder]
            dropped += 1
        return dropped

    def delete(self, key: str) -> bool:
        """Remove the artifact: the manifest first (it stops existing), then its files and any
        multipart upload a killed writer left open; False when there was no artifact."""
        existed = self.exists(key)
        folder = self.layout.folder(key)
        manifest = self.layout.manifest(key)
        self._delete([manifest])
        leftovers = [k for k in self._list(folder) if k != manifest]
        if leftovers:
            self._delete(leftovers)
        self._abort_uploads(folder)
        shutil.rmtree(self.cache_root / key[:2] / key, ignore_errors=True)
        return existed

    def _abort_uploads(self, folder: str) -> None:
        """Abort multipart uploads a killed writer left open (their parts hold its bytes)."""
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            for upload in (u for page in pages for u in page.get("Uploads", [])):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error, "abort uploads", folder) from None

    def sweep_staging(self, older_than_seconds: float = 3600.0) -> int:
        """Remove local staging folders a killed writer left behind; returns how many."""
        cutoff = time.time() - older_than_seconds
        stale = [
            folder
            for folder in self._staging_root.iterdir()
            if folder.is_dir() and folder.stat().st_mtime < cutoff
        ]
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        return len(stale)

    # -- claim-checked inputs

    def put_inputs(self, production_id: UUID, key: str, data: bytes) -> None:
        """Keep a unit's inputs (one PUT: S3 shows an object whole or not at all)."""
        self._put(self.layout.inputs(production_id, key), data, "application/json")

    def inputs(self, production_id: UUID, key: str) -> bytes:
        object_key = self.layout.inputs(production_id, key)
        data = self._get(object_key)
        if data is None:
            raise FileNotFoundError(f"no inputs at {object_key}")
        return data

    def input_keys(self, production_id: UUID) -> list[str]:
        found = (PurePosixPath(k) for k in self._list(self.layout.inputs_folder(production_id)))
        return sorted(p.stem for p in found if p.suffix == ".json" and len(p.stem) == KEY_LENGTH)

    def delete_inputs(self, production_id: UUID) -> None:
        self._delete(self._list(self.layout.inputs_folder(production_id)))

    # -- links and uploads

    def _seconds(self, seconds: int | None) -> int:
        chosen = self.presign_seconds if seconds is None else seconds
        if not 1 <= chosen <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"a presigned link lasts 1 s to 7 days, not {chosen} s")
        return chosen

    def _presign(self, method: str, params: dict[str, str], seconds: int | None) -> str:
        try:
            url = self.client.generate_presigned_url(
                method, Params={"Bucket": self.bucket, **params}, ExpiresIn=self._seconds(seconds)
            )
        except (ClientError, BotoCoreError) as error:
            raise self._failed(error, "presign", params["Key"]) from None
        return url

    def presigned_get(
        self, key: str, name: str, seconds: int | None = None, download_as: str | None = None
    ) -> str:
        """A link that GETs one file of a finished artifact (FileNotFoundError when there is
        none); `download_as` makes browsers save it under that name."""
        if name not in (self.manifest(key) or {}):
            raise FileNotFoundError(f"artifact {key} has no {name}")
        params = {"Key": self.layout.object(key, name)}
        if download_as is not None:
            disposition = f'attachment; filename="{check_name(download_as)}"'
            params["ResponseContentDisposition"] = disposition
        return self._presign("get_object", params, seconds)

    # -- uploads: a user's file PUT straight to the bucket, then taken by the studio

    def presigned_put(
        self, owner: UUID, upload_id: UUID, content_type: str, seconds: int | None = None
    ) -> str:
        """A link that PUTs the upload `upload_id` of `owner`; the uploader must send exactly
        this Content-Type, which the signature covers."""
        params = {"Key": self.layout.upload(owner, upload_id), "ContentType": content_type}
        return self._presign("put_object", params, seconds)

    def read_upload(self, owner: UUID, upload_id: UUID, max_bytes: int) -> bytes:
        """The upload's bytes: FileNotFoundError when there is none, `UploadTooLarge` (asked
        before a byte is read) when it holds more than `max_bytes`."""
        object_key = self.layout.upload(owner, upload_id)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            if self._code(error) in NOT_FOUND_CODES:
                raise FileNotFoundError(f"no upload {upload_id}") from None
            raise self._failed(error, "HEAD", object_key) from None
        except BotoCoreError as error:
            raise self._failed(error, "HEAD", object_key) from None
        if head["ContentLength"] > max_bytes:
            raise UploadTooLarge(f"the upload holds more than {max_bytes} bytes")
        data = self._get(object_key)
        if data is None:
            raise FileNotFoundError(f"no upload {upload_id}")
        if len(data) > max_bytes:  # replaced between the HEAD and the GET
            raise UploadTooLarge(f"the upload holds more than {max_bytes} bytes")
        return data

    def delete_upload(self, owner: UUID, upload_id: UUID) -> None:
        self._delete([self.layout.upload(owner, upload_id)])

    def delete_uploads(self, owner: UUID) -> None:
        """Every upload of `owner` (their erasure)."""
        self._delete(self._list(self.layout.uploads_folder(owner)))

    # -- lifecycle

    def ensure_lifecycle(self, days: int) -> bool:
        """Expire claim-checked inputs after `days` and uploads nobody took after a day, abort
        multipart uploads a killed writer left open after a day, keeping the bucket's other
        rules. False (and a warning) when the store does not implement lifecycle rules
        (versitygw's posix backend does not)."""
        if days < 1:
            raise ValueError("inputs expire after one day at the least")
        ours: list[Any] = [
            {"ID": LIFECYCLE_RULE_IDS[0], "Status": "Enabled",
             "Filter": {"Prefix": self.layout.lifecycle_prefix()},
             "Expiration": {"Days": days}},
            {"ID": LIFECYCLE_RULE_IDS[1], "Status": "Enabled",
             "Filter": {"Prefix": self.layout.prefix + "/" if self.layout.prefix else ""},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            {"ID": LIFECYCLE_RULE_IDS[2], "Status": "Enabled",
             "Filter": {"Prefix": self.layout.uploads_prefix()},
             "Expiration": {"Days": UPLOADS_EXPIRE_DAYS}},
        ]  # fmt: skip
        try:
            try:
                current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
                rules = current.get("Rules", [])
                others: list[Any] = [r for r in rules if r.get("ID") not in LIFECYCLE_RULE_IDS]
            except ClientError as error:
                if self._code(error) != "NoSuchLifecycleConfiguration":
                    raise
                others = []
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": others + ours}
            )
        except ClientError as error:
            if self._code(error) in NOT_IMPLEMENTED_CODES:
                log.warning("s3://%s has no lifecycle rules: inputs are kept", self.bucket)
                return False
            raise self._failed(error, "lifecycle", self.layout.lifecycle_prefix()) from None
        except BotoCoreError as error:
            raise self._failed(error, "lifecycle", self.layout.lifecycle_prefix()) from None
        return True


def s3_media_store(settings: Settings) -> S3MediaStore:
    """The S3 store the settings describe; its download cache under the media folder."""
    if not settings.s3_bucket:
        raise ValueError("FILMSTUDIO_S3_BUCKET is needed with FILMSTUDIO_MEDIA_STORE=s3")
    secret = settings.s3_secret_access_key
    return S3MediaStore(
        settings.s3_bucket,
        settings.media_root / "s3-cache",
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        presign_seconds=settings.s3_presign_seconds,
        cache_bytes=settings.s3_cache_bytes,
        cache_max_age_seconds=settings.s3_cache_max_age_hours * 3600,
    )

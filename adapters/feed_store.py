"""Where the analytics feed's files go: a local folder, or S3 under ``<s3_prefix>/analytics/``.

Names are relative paths ("type=credits.Purchased/day=2026-12-01/part-00000.parquet"). A file is
replaced atomically: temp file + rename locally, a single PUT on S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from adapters.s3_media import clean_prefix, s3_media_store
from adapters.settings import Settings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


class FeedStore(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Create or replace the file ``name`` atomically."""

    def names(self, folder: str = "") -> list[str]:
        """The files under ``folder`` (a relative path), sorted."""

    def delete(self, names: list[str]) -> None: ...

    def local_copy(self) -> Path:
        """A local folder holding the feed as it is now (synced first, for S3)."""


class LocalFeedStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def names(self, folder: str = "") -> list[str]:
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, names: list[str]) -> None:
        for name in names:
            (self.root / name).unlink(missing_ok=True)

    def local_copy(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root


class S3FeedStore:
    """The feed on the media store's bucket; ``local_copy`` mirrors it into ``cache``."""

    def __init__(self, client: S3Client, bucket: str, prefix: str, cache: Path) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = "/".join(p for p in (clean_prefix(prefix), "analytics") if p) + "/"
        self.cache = LocalFeedStore(cache)

    def _key(self, name: str) -> str:
        return self.prefix + name

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def _listing(self, folder: str = "") -> dict[str, str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(folder)
        )
        return {
            item["Key"].removeprefix(self.prefix): item["ETag"].strip('"')
            for page in pages
            for item in page.get("Contents", [])
        }

    def names(self, folder: str = "") -> list[str]:
        return sorted(self._listing(folder))

    def delete(self, names: list[str]) -> None:
        for start in range(0, len(names), 1000):
            batch = names[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(n)} for n in batch], "Quiet": True},
            )

    def local_copy(self) -> Path:
        """Download new or changed files (by ETag: the MD5 of a single PUT), remove the ones
        gone from the bucket."""
        remote = self._listing()
        root = self.cache.local_copy()
        for name, etag in remote.items():
            path = root / name
            if path.is_file() and _md5(path) == etag:
                continue
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
            except (ClientError, BotoCoreError):
                continue  # deleted meanwhile
            self.cache.put(name, body.read())
        self.cache.delete([n for n in self.cache.names() if n not in remote])
        return root


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def feed_store(settings: Settings) -> FeedStore:
    """The feed's store for these settings: S3 with the S3 media store, else a local folder."""
    if settings.media_store == "s3":
        media = s3_media_store(settings)
        cache = settings.state_dir / "analytics-cache"
        return S3FeedStore(media.client, media.bucket, settings.s3_prefix, cache)
    return LocalFeedStore(settings.analytics_root)

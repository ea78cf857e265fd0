"""S3 in the tests: versitygw (Versity's S3 gateway, built by ``deploy/local/versitygw.sh``) on
a posix folder. It checks SigV4 signatures and presigned URLs like S3 does (moto's server
accepted a wrong secret), and speaks multipart uploads.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "deploy" / "local" / "versitygw.sh"
BINARY = ROOT / ".build" / "bin" / "versitygw"
REGION = "us-east-1"
START_SECONDS = 60.0


@dataclass(frozen=True)
class S3Server:
    """A running S3 stand-in and a bucket on it."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str
    region: str = REGION

    def client(self, secret_access_key: str | None = None):  # noqa: ANN201 - boto3's S3 client
        """A plain boto3 client (a test's own view of the bucket)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret_access_key or self.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_versitygw(data_dir: Path) -> Iterator[S3Server]:
    """versitygw on a free loopback port over `data_dir` (built first if needed), with a fresh
    bucket; killed at the end."""
    build = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if build.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} failed: {build.stderr.strip()[-2000:]}")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{port}",
        bucket=f"films-{secrets.token_hex(4)}",
        access_key_id=f"AK{secrets.token_hex(8).upper()}",
        secret_access_key=secrets.token_urlsafe(30),
    )
    # The root keys travel in the environment (versitygw reads them there), not in argv.
    env = {
        **os.environ,
        "ROOT_ACCESS_KEY_ID": server.access_key_id,
        "ROOT_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(BINARY), "--port", f"127.0.0.1:{port}", "--region", REGION, "--quiet",
             "posix", str(data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"versitygw did not start on {port}: {output}")
                time.sleep(0.05)
            server.client().create_bucket(Bucket=server.bucket)
            yield server
        finally:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A versitygw running for this test session, with a bucket of its own."""
    with running_versitygw(tmp_path_factory.mktemp("versitygw")) as server:
        yield server

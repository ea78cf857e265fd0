"""Settings from the environment (prefix ``FILMSTUDIO_``) with working local defaults."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.topics import Topics
from domain.billing import Plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# The catalogue a fresh installation sells; an operator sets FILMSTUDIO_BILLING_PLANS (JSON) to
# their own Stripe price ids.
DEFAULT_PLANS = (
    Plan("pack-100", "100 credits", "pack", 100, "price_filmstudio_pack_100", 1000),
    Plan("pack-500", "500 credits", "pack", 500, "price_filmstudio_pack_500", 4000),
    Plan(
        "monthly-300", "300 credits a month", "subscription", 300, "price_filmstudio_monthly_300",
        2500, interval="month",
    ),
)  # fmt: skip


class Settings(BaseSettings):
    """Everything configurable about one studio installation."""

    model_config = SettingsConfigDict(env_prefix="FILMSTUDIO_", extra="ignore")

    state_dir: Path = PROJECT_ROOT / ".state"
    build_dir: Path = PROJECT_ROOT / ".build"
    media_dir: Path | None = None  # default: <state_dir>/media
    # Where artifacts live: the local folder (the embedded default) or an S3 bucket (AWS S3 or any
    # S3-compatible store; adapters/s3_media.py). Without keys, boto3's usual credential chain.
    media_store: Literal["local", "s3"] = "local"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None  # e.g. http://127.0.0.1:7070; default AWS S3
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_presign_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)  # SigV4's limit
    s3_inputs_expire_days: int = Field(default=7, ge=1)  # claim-checked inputs' lifecycle
    s3_cache_bytes: int = Field(default=20 * 1024**3, ge=0)  # each machine's download cache
    s3_cache_max_age_hours: float = Field(default=24.0, gt=0)  # unused copies go after this

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_controller_port: int = 19093
    # The local stack's KRaft nodes (each broker and controller); with more than one and a single
    # bootstrap address, node i listens on its port + 2i and its controller port + 2i.
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    kafka_heap: str = "-Xmx512m -Xms256m"
    # A managed cluster's TLS and SASL (e.g. Strimzi's TLS listener and SCRAM users).
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_ssl_ca_location: Path | None = None
    kafka_ssl_certificate_location: Path | None = None
    kafka_ssl_key_location: Path | None = None
    kafka_sasl_mechanism: str | None = None  # e.g. SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    topic_prefix: str = "studio"
    topic_partitions: int = 3
    topic_replication: int | None = Field(default=None, ge=1)  # None: min(3, kafka_brokers)
    # The largest event envelope the relay may publish (the event topics' message limit).
    event_max_bytes: int = Field(default=1_000_000, ge=10_000)

    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pg_user: str = "filmstudio"
    pg_password: SecretStr = SecretStr("filmstudio-local")
    pg_database: str = "filmstudio"

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # `filmstudio up`/`down` start and stop the local stack; false for a managed one, or for a
    # second studio (own state dir, prefix, database, ports) beside the first on its stack.
    local_stack: bool = True
    supervisor_metrics_port: int = 9464  # the supervisor's Prometheus /metrics; 0: any free port

    jwt_secret: SecretStr | None = None
    master_key: SecretStr | None = None
    token_ttl_seconds: int = 3600

    admin_email: str = "admin@filmstudio.example.com"
    admin_password: SecretStr | None = None

    credits_per_minute: int = 10
    model_backends: bool = False  # "final" quality needs the GPU model backends
    models_dir: Path | None = None  # default: <state_dir>/models, one folder per model family
    model_revision: str = "1"  # part of every model artifact's key: bump it when weights change
    allow_noncommercial_models: bool = False  # the operator's opt-in to non-commercial licences
    model_device: str | None = None  # "cuda", "cpu", ...; default: cuda where available
    image_steps: int = Field(default=30, ge=1, le=200)
    image_guidance: float = Field(default=5.0, ge=0)
    image_batch: int = Field(default=4, ge=1, le=64)  # units a GPU worker renders in one call
    # Composition units a draft worker process computes at once, each a consumer of the stage's
    # group: one ffmpeg piece leaves part of two cores idle (its start and its filter thread),
    # and with as many consumers as the topic has partitions (3) none holds two partitions' units.
    composition_consumers: int = Field(default=3, ge=1, le=16)
    image_long_side: int = Field(default=1344, ge=64, le=4096)  # SDXL renders, then scales
    llm_base_url: str | None = None  # any OpenAI-compatible server, e.g. https://api.openai.com/v1
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    read_wait_seconds: float = Field(default=5.0, ge=0)

    # The door: body sizes, idempotency keys, rate limits (per client IP and per account), costs.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # routes may have their own
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    idempotency_lease_seconds: float = Field(default=60.0, gt=0)  # then a retry takes the key over
    rate_window_seconds: int = Field(default=60, ge=1)
    register_per_ip: int = Field(default=60, ge=1)  # per window
    register_per_email: int = Field(default=10, ge=1)
    token_per_ip: int = Field(default=120, ge=1)
    token_failures_per_email: int = Field(default=10, ge=1)
    script_help_credits: int = Field(default=1, ge=0)  # per suggestion

    # Links in e-mails and the pages Stripe Checkout returns to.
    public_url: str = "http://127.0.0.1:8000"

    # Billing (Stripe). Without an API key the billing routes answer 503; credits come from admins.
    stripe_api_key: SecretStr | None = None  # sk_test_... or sk_live_...
    stripe_webhook_secret: SecretStr | None = None  # whsec_... of the webhook endpoint
    stripe_api_base: str | None = None  # a stand-in such as stripe-mock; default Stripe's own
    billing_plans: list[Plan] = Field(default_factory=lambda: list(DEFAULT_PLANS))
    low_balance_credits: int = Field(default=20, ge=0)  # a "low balance" e-mail below this

    # E-mail (SendGrid v3). Without an API key, e-mails are written as .eml files to the outbox.
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_base: str = "https://api.sendgrid.com"
    mail_from: str = "studio@filmstudio.example.com"
    mail_from_name: str = "AI Film Studio"
    mail_outbox_dir: Path | None = None  # default: <state_dir>/mail-outbox
    mail_max_attempts: int = Field(default=8, ge=1)  # then the e-mail is dead-lettered
    mail_max_event_age_hours: float = Field(default=24.0, gt=0)  # older events send nothing
    account_token_secret: SecretStr | None = None  # signs verification and reset links
    verify_token_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)
    password_reset_per_ip: int = Field(default=30, ge=1)  # per rate window
    password_reset_per_email: int = Field(default=5, ge=1)

    # YouTube publishing (OAuth 2.0 client of a Google Cloud project with the Data API v3).
    youtube_client_id: str | None = None
    youtube_client_secret: SecretStr | None = None
    google_oauth_base: str | None = None  # a stand-in; default Google's own OAuth endpoints
    youtube_api_base: str = "https://youtube.googleapis.com/"
    youtube_chunk_bytes: int = Field(default=8 * 1024 * 1024, ge=256 * 1024)  # upload chunks

    # Salesforce sync (a connected app). Without an instance URL the sync does not run.
    salesforce_instance_url: str | None = None  # https://<my-domain>.my.salesforce.com
    salesforce_login_url: str = "https://login.salesforce.com"  # its OAuth token endpoint's host
    salesforce_client_id: str | None = None  # the connected app's consumer key
    salesforce_client_secret: SecretStr | None = None  # client credentials flow
    salesforce_username: str | None = None  # JWT bearer flow: the integration user ...
    salesforce_private_key: SecretStr | None = None  # ... and the app's certificate's key (PEM)
    salesforce_api_version: str = "62.0"
    salesforce_ca_bundle: Path | None = None  # a private CA (tests); default the system's
    salesforce_bulk_threshold: int = Field(default=2000, ge=1)  # more pending: Bulk API 2.0

    # Analytics feed: Parquet files in the media store (local folder or S3), DuckDB to query.
    analytics_dir: Path | None = None  # default: <state_dir>/analytics (with the local store)
    analytics_file_rows: int = Field(default=50_000, ge=1)  # a file rolls at this many rows

    # The API's processes (uvicorn --workers): each is one GIL; they share nothing but PostgreSQL.
    api_workers: int = Field(default=1, ge=1, le=64)
    # Aggregates the API's event store keeps loaded (fast-forwarded from the store on every
    # load, so other processes' writes are seen); 0: none, every load replays all its events.
    api_aggregate_cache_size: int = Field(default=2000, ge=0)
    # How long the API keeps a user's unwrapped key: an erasure in the same process drops it at
    # once; another API process may use it for this long after (its commands still refuse the
    # erased user: every request re-reads the caller's account). 0: read the key on every use.
    api_key_cache_seconds: float = Field(default=2.0, ge=0, le=60)

    @property
    def topics(self) -> Topics:
        """This installation's topic names."""
        return Topics(self.topic_prefix)

    @property
    def replication_factor(self) -> int:
        """Copies of each topic partition: `topic_replication`, else as many as the local
        stack's nodes allow, up to 3."""
        return self.topic_replication or min(3, self.kafka_brokers)

    @property
    def min_insync_replicas(self) -> int:
        """Replicas that must have a write before it is acknowledged: 2 of 3 (one node may go)."""
        return 2 if self.replication_factor >= 3 else 1

    @property
    def plans(self) -> dict[str, Plan]:
        """The billing catalogue by plan id."""
        return {plan.id: plan for plan in self.billing_plans}

    @property
    def mail_outbox(self) -> Path:
        return self.mail_outbox_dir or self.state_dir / "mail-outbox"

    @property
    def analytics_root(self) -> Path:
        return self.analytics_dir or self.state_dir / "analytics"

    @property
    def media_root(self) -> Path:
        return self.media_dir or self.state_dir / "media"

    @property
    def voice_samples_root(self) -> Path:
        return self.state_dir / "voice-samples"

    @property
    def models_root(self) -> Path:
        return self.models_dir or self.state_dir / "models"

    @property
    def pg_conninfo(self) -> str:
        return (
            f"host={self.pg_host} port={self.pg_port} dbname={self.pg_database} "
            f"user={self.pg_user} password={self.pg_password.get_secret_value()}"
        )

    def secret(self, name: str) -> str:
        """A secret from the environment, else one generated once into the state folder."""
        configured: SecretStr | None = getattr(self, name, None)
        if configured is not None:
            return configured.get_secret_value()
        path = self.state_dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            create_once(path, secrets.token_urlsafe(32))
        return path.read_text().strip()


def create_once(path: Path, value: str) -> None:
    """Write `value` to `path` unless a file is there already, atomically: it is written whole
    into a private temporary file (exclusive create, mode 0600) that is then hard-linked to
    `path`, which fails when it exists; so of processes racing, the first link wins and the
    others read the winner's value."""
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)
    finally:
        os.unlink(staging)


@lru_cache
def get_settings() -> Settings:
    return Settings()

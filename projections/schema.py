"""The read models' tables (Postgres). Queries read these and nothing else."""

from __future__ import annotations

READ_MODEL_TABLES = (
    "rm_users",
    "rm_projects",
    "rm_script_revisions",
    "rm_productions",
    "rm_credit_ledger",
    "rm_production_units",
    "rm_voice_samples",
    "rm_erased_users",
    "rm_purchases",
    "rm_subscriptions",
    "rm_publications",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rm_users (
    user_id uuid PRIMARY KEY,
    email text NOT NULL,
    display_name text NOT NULL,
    role text NOT NULL,
    verified boolean NOT NULL DEFAULT false,
    erased boolean NOT NULL DEFAULT false,
    balance bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    registered_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_projects (
    project_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    title text NOT NULL,
    language text NOT NULL,
    aspect_ratio text NOT NULL,
    revision integer NOT NULL DEFAULT 0,
    script_format text,
    script_text text,
    archived boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_projects_owner ON rm_projects (owner_id, created_at);
CREATE TABLE IF NOT EXISTS rm_script_revisions (
    project_id uuid NOT NULL,
    revision integer NOT NULL,
    script_format text NOT NULL,
    script_text text NOT NULL,
    revised_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, revision)
);
CREATE TABLE IF NOT EXISTS rm_productions (
    production_id uuid PRIMARY KEY,
    project_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    revision integer NOT NULL,
    options jsonb NOT NULL,
    credits bigint NOT NULL,
    estimated_seconds double precision NOT NULL,
    status text NOT NULL,
    cancel_reason text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
ALTER TABLE rm_productions ADD COLUMN IF NOT EXISTS failure text NOT NULL DEFAULT '';
ALTER TABLE rm_productions ADD COLUMN IF NOT EXISTS artifacts jsonb NOT NULL DEFAULT '{}';
ALTER TABLE rm_productions ADD COLUMN IF NOT EXISTS duration_seconds double precision;
CREATE TABLE IF NOT EXISTS rm_production_units (
    production_id uuid NOT NULL,
    stage text NOT NULL,
    unit text NOT NULL,
    attempt integer NOT NULL,
    status text NOT NULL,
    artifact text NOT NULL DEFAULT '',
    error text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (production_id, stage, unit)
);
CREATE TABLE IF NOT EXISTS rm_voice_samples (
    sample_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    name text NOT NULL,
    seconds double precision NOT NULL,
    added_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_voice_samples_user ON rm_voice_samples (user_id, added_at);
CREATE INDEX IF NOT EXISTS rm_productions_owner ON rm_productions (owner_id, requested_at);
CREATE TABLE IF NOT EXISTS rm_credit_ledger (
    event_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    kind text NOT NULL,
    amount bigint NOT NULL,
    production_id uuid,
    source text,
    reason text NOT NULL DEFAULT '',
    position bigint NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_credit_ledger_user ON rm_credit_ledger (user_id, position);
CREATE TABLE IF NOT EXISTS rm_erased_users (
    user_id uuid PRIMARY KEY
);
ALTER TABLE rm_users ADD COLUMN IF NOT EXISTS owed bigint NOT NULL DEFAULT 0;
ALTER TABLE rm_users ADD COLUMN IF NOT EXISTS email_language text NOT NULL DEFAULT 'en';
ALTER TABLE rm_users ADD COLUMN IF NOT EXISTS product_email boolean NOT NULL DEFAULT true;
CREATE TABLE IF NOT EXISTS rm_purchases (
    reference text PRIMARY KEY,
    user_id uuid NOT NULL,
    source text NOT NULL,
    plan_id text NOT NULL,
    credits bigint NOT NULL,
    revoked bigint NOT NULL DEFAULT 0,
    amount_cents bigint NOT NULL,
    currency text NOT NULL,
    invoice_url text NOT NULL DEFAULT '',
    position bigint NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_purchases_user ON rm_purchases (user_id, position);
CREATE TABLE IF NOT EXISTS rm_subscriptions (
    subscription text PRIMARY KEY,
    user_id uuid NOT NULL,
    plan_id text NOT NULL,
    status text NOT NULL,
    period_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    last_payment_failed_at timestamptz,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_subscriptions_user ON rm_subscriptions (user_id);
CREATE TABLE IF NOT EXISTS rm_publications (
    publication_id uuid PRIMARY KEY,
    production_id uuid NOT NULL,
    owner_id uuid NOT NULL,
    title text NOT NULL,
    privacy text NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    video_id text NOT NULL DEFAULT '',
    url text NOT NULL DEFAULT '',
    failure text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_publications_production ON rm_publications
    (production_id, requested_at);
"""

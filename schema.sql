-- fruxon's schema: the one source of truth for what the SQLite file holds.
--
-- The file is a list of numbered migrations. A new database runs all of them; an existing one
-- runs those above its `PRAGMA user_version`, each in its own transaction that also bumps the
-- version. A migration, once released, is never edited: change the schema by appending one.
--
-- Conventions: times are INTEGER milliseconds since the Unix epoch (UTC), money is INTEGER
-- micro-dollars, JSON documents are TEXT. Tables are STRICT so a wrong type is an error, not a
-- silent conversion.

-- migration 1: tenants, keys, agents, environments, executions
CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    -- NULL means "the server's default cap" (FRUXON_ENVIRONMENT_CAP).
    environment_cap INTEGER CHECK (environment_cap IS NULL OR environment_cap >= 0),
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE admin_emails (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, email)
) STRICT, WITHOUT ROWID;

-- Keys are stored only as SHA-256 hashes; `id` is the public handle used to revoke one.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'execute')),
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

CREATE TABLE agents (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    latest_revision INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

-- Revisions are immutable: nothing ever updates a row of this table.
CREATE TABLE agent_revisions (
    tenant_id                  TEXT NOT NULL,
    agent_id                   TEXT NOT NULL,
    revision                   INTEGER NOT NULL CHECK (revision >= 1),
    runtime                    TEXT NOT NULL,
    input_micros_per_million   INTEGER NOT NULL CHECK (input_micros_per_million >= 0),
    output_micros_per_million  INTEGER NOT NULL CHECK (output_micros_per_million >= 0),
    created_at                 INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, revision),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE TABLE environments (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug         TEXT NOT NULL CHECK (length(slug) BETWEEN 2 AND 64),
    display_name TEXT,
    origin       TEXT NOT NULL CHECK (origin IN ('auto', 'explicit')),
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, slug)
) STRICT, WITHOUT ROWID;

-- `seq` is assigned at commit by the single writer, so it is the order in which rows became
-- visible: paging by it never skips or repeats a row. `environment_slug` is plain text on
-- purpose, not a foreign key: deleting an environment must not touch its history.
CREATE TABLE executions (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id         TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    environment_slug TEXT,
    session_id       TEXT,
    status           TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    output           TEXT,
    error            TEXT,
    input_tokens     INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens    INTEGER NOT NULL CHECK (output_tokens >= 0),
    cost_micros      INTEGER NOT NULL CHECK (cost_micros >= 0),
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    source           TEXT NOT NULL CHECK (source IN ('api'))
) STRICT;

CREATE INDEX executions_by_environment ON executions (tenant_id, environment_slug, seq);

-- migration 2: rollups for per-environment counts and cost, and indexes for the lists
-- Both rollups are written in the transaction that records the execution, so they always
-- agree with the executions table. Untagged runs are rolled up under the slug '' (never a
-- valid slug), since primary-key columns cannot hold NULL here.
CREATE TABLE usage_totals (
    tenant_id        TEXT NOT NULL,
    environment_slug TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    executions       INTEGER NOT NULL,
    cost_micros      INTEGER NOT NULL,
    last_at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment_slug, agent_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX usage_totals_by_agent ON usage_totals (tenant_id, agent_id);

-- One row per tenant, agent, UTC day (days since the epoch, by start time) and environment.
-- min_seq and max_seq bound where that day's executions sit in commit order, so the partial
-- days at the edges of a summary window are read through executions_by_agent, not a scan.
CREATE TABLE usage_daily (
    tenant_id        TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    day              INTEGER NOT NULL,
    environment_slug TEXT NOT NULL,
    executions       INTEGER NOT NULL,
    cost_micros      INTEGER NOT NULL,
    last_at          INTEGER NOT NULL,
    min_seq          INTEGER NOT NULL,
    max_seq          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, day, environment_slug)
) STRICT, WITHOUT ROWID;

INSERT INTO usage_totals
SELECT tenant_id, coalesce(environment_slug, ''), agent_id, count(*), sum(cost_micros),
       max(finished_at)
FROM executions GROUP BY 1, 2, 3;

INSERT INTO usage_daily
SELECT tenant_id, agent_id, started_at / 86400000, coalesce(environment_slug, ''), count(*),
       sum(cost_micros), max(finished_at), min(seq), max(seq)
FROM executions GROUP BY 1, 2, 3, 4;

-- By agent in commit order, for the agent-filtered list; it also carries what a summary needs,
-- so the partial days at a window's edges are read from the index alone.
CREATE INDEX executions_by_agent ON executions
    (tenant_id, agent_id, seq, started_at, environment_slug, cost_micros, finished_at);
CREATE INDEX environments_by_created ON environments (tenant_id, created_at);

-- migration 3: browser sessions for the settings page
-- A session is created by signing in with an admin key; only the hash of its cookie token is
-- stored. It ends at expires_at, on sign-out, or when its key is revoked (checked per request).
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- migration 4: the notification outbox and the state of each tenant's cap alerts
-- A notification is written in the same transaction as the event that causes it, so it can
-- never be lost or sent for an event that did not happen; a worker delivers it afterwards.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    -- A JSON array of addresses, fixed when the event happened.
    recipients      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL
                    CHECK (status IN ('pending', 'sent', 'failed', 'unconfigured')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER
) STRICT;

CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_tenant ON notifications (tenant_id, id);

-- warning_armed: the 80% warning may fire (it re-arms only once the count falls below 80%).
-- episode_open: the tenant is in a cap episode (a new slug was refused and it is still at cap).
-- refused_slugs: a JSON array of the slugs refused in the current episode, oldest first.
CREATE TABLE cap_alerts (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    warning_armed    INTEGER NOT NULL DEFAULT 1,
    episode_open     INTEGER NOT NULL DEFAULT 0,
    last_cap_mail_at INTEGER,
    refused_slugs    TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- migration 5: budgets per environment (optionally per agent), their per-period usage, and the
-- tenant settings they need (time zone, default budget, alert webhook)
-- agent_id '' means the budget covers every agent of the environment.
CREATE TABLE budgets (
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    environment_slug TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    limit_micros     INTEGER CHECK (limit_micros IS NULL OR limit_micros > 0),
    limit_executions INTEGER CHECK (limit_executions IS NULL OR limit_executions > 0),
    period           TEXT NOT NULL CHECK (period IN ('day', 'week', 'month')),
    -- A JSON array of percentages, ascending.
    thresholds       TEXT NOT NULL,
    enforce          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, environment_slug, agent_id),
    CHECK (limit_micros IS NOT NULL OR limit_executions IS NOT NULL)
) STRICT, WITHOUT ROWID;

-- Spend per budget scope and period, written with each execution. A new period is a new key,
-- so budgets reset by themselves. `fired` is a JSON array of the thresholds already alerted.
CREATE TABLE budget_usage (
    tenant_id        TEXT NOT NULL,
    environment_slug TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    period           TEXT NOT NULL,
    period_start     INTEGER NOT NULL,
    executions       INTEGER NOT NULL,
    cost_micros      INTEGER NOT NULL,
    fired            TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, environment_slug, agent_id, period, period_start)
) STRICT, WITHOUT ROWID;

ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- The budget every new environment starts with, as JSON, or NULL for none.
ALTER TABLE tenants ADD COLUMN default_budget TEXT;
ALTER TABLE tenants ADD COLUMN alert_webhook_url TEXT;
-- The webhook signing secret; kept in clear because signing needs it, never shown again.
ALTER TABLE tenants ADD COLUMN webhook_secret TEXT;

-- Notifications go to e-mail (recipients) or to a webhook (target, body is the JSON sent).
ALTER TABLE notifications ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'
    CHECK (channel IN ('email', 'webhook'));
ALTER TABLE notifications ADD COLUMN target TEXT;

-- migration 6: a cap episode mails once, however long it lasts
-- episode_mailed: the open cap episode has had its e-mail. An episode already open when this
-- runs was mailed at its first refusal, unless a mail had gone out less than a day before.
ALTER TABLE cap_alerts ADD COLUMN episode_mailed INTEGER NOT NULL DEFAULT 0;
UPDATE cap_alerts SET episode_mailed = 1 WHERE episode_open = 1 AND last_cap_mail_at IS NOT NULL;

-- migration 7: the executions list, unfiltered or filtered by session, by failed status or by
-- time, reads only the rows it returns or the hours it covers, however long the history
CREATE INDEX executions_by_tenant ON executions (tenant_id, seq);
CREATE INDEX executions_by_session ON executions (tenant_id, session_id, seq)
    WHERE session_id IS NOT NULL;
CREATE INDEX executions_failed ON executions (tenant_id, seq) WHERE status = 'failed';

-- Per tenant and hour (by start time), the commit-order range of that hour's runs: a list
-- bounded in time scans only those ranges. Written with each execution.
CREATE TABLE execution_hours (
    tenant_id TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    min_seq   INTEGER NOT NULL,
    max_seq   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, hour)
) STRICT, WITHOUT ROWID;

INSERT INTO execution_hours
SELECT tenant_id, started_at / 3600000, min(seq), max(seq) FROM executions GROUP BY 1, 2;

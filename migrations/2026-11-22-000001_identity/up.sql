-- Identity and access: the area tree, users, sessions with rotating refresh tokens,
-- API tokens, login throttling and the append-only audit log.

CREATE TABLE areas (
    id          INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(code) <= 64),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    level       TEXT NOT NULL CHECK (level IN ('region', 'municipality', 'district')),
    parent_id   INTEGER REFERENCES areas (id),
    -- '/vasterbotten/umea/centrum/': the subtree of an area is every area whose path
    -- starts with its own. Areas never move, so the path never changes.
    path        TEXT NOT NULL UNIQUE,
    active      BOOLEAN NOT NULL DEFAULT true,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((level = 'region') = (parent_id IS NULL))
);
CREATE INDEX areas_path_prefix ON areas (path text_pattern_ops);
SELECT diesel_manage_updated_at('areas');

INSERT INTO areas (code, name, level, path) VALUES
    ('vasterbotten', 'Västerbottens län', 'region', '/vasterbotten/'),
    ('stockholm', 'Stockholms län', 'region', '/stockholm/');
INSERT INTO areas (code, name, level, parent_id, path)
SELECT m.code, m.name, 'municipality', r.id, r.path || m.code || '/'
  FROM (VALUES ('umea', 'Umeå', 'vasterbotten'), ('sollentuna', 'Sollentuna', 'stockholm'))
       AS m (code, name, region)
  JOIN areas r ON r.code = m.region;
INSERT INTO areas (code, name, level, parent_id, path)
SELECT d.code, d.name, 'district', m.id, m.path || d.code || '/'
  FROM (VALUES
        ('centrum', 'Centrum', 'umea'), ('alidhem', 'Ålidhem', 'umea'),
        ('ostra-ersboda', 'Östra Ersboda', 'umea'), ('vastra-ersboda', 'Västra Ersboda', 'umea'),
        ('mariehem', 'Mariehem', 'umea'), ('teg', 'Teg', 'umea'), ('haga', 'Haga', 'umea'),
        ('sandbacka', 'Sandbacka', 'umea'), ('tomtebo', 'Tomtebo', 'umea'),
        ('holmsund', 'Holmsund', 'umea'), ('obbola', 'Obbola', 'umea'), ('savar', 'Sävar', 'umea'),
        ('hornefors', 'Hörnefors', 'umea'), ('roback', 'Röbäck', 'umea'),
        ('edsberg', 'Edsberg', 'sollentuna'), ('helenelund', 'Helenelund', 'sollentuna'),
        ('haggvik', 'Häggvik', 'sollentuna'), ('rotebro', 'Rotebro', 'sollentuna'),
        ('tureberg', 'Tureberg', 'sollentuna'))
       AS d (code, name, municipality)
  JOIN areas m ON m.code = d.municipality;

CREATE TABLE users (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-case, so uniqueness is case-insensitive.
    username            TEXT NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{2,63}$'),
    role                TEXT NOT NULL CHECK (role IN ('school', 'field_worker', 'police', 'social_services',
                                                      'leisure', 'coordinator', 'analyst', 'admin')),
    area_id             INTEGER NOT NULL REFERENCES areas (id),
    kind                TEXT NOT NULL CHECK (kind IN ('person', 'service')),
    password_hash       TEXT,
    disabled            BOOLEAN NOT NULL DEFAULT false,
    -- Bumped on every password change; access tokens carry the version they were
    -- issued under, so older ones stop working at once.
    credentials_version INTEGER NOT NULL DEFAULT 1,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Service accounts authenticate with API tokens only.
    CHECK ((kind = 'service') = (password_hash IS NULL))
);
CREATE INDEX users_area ON users (area_id);
SELECT diesel_manage_updated_at('users');

-- A login session: one family of rotating refresh tokens.
CREATE TABLE sessions (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES users (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX sessions_user_active ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; the token itself is never stored.
    token_hash  BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id  UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    permissions  TEXT[] NOT NULL,
    created_by   UUID NOT NULL REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Login attempts per account ('user:<name>') and per client ('ip:<addr>'): the times of
-- recent attempts that did not succeed (a sliding window), and the lock they caused.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    attempts     TIMESTAMPTZ[] NOT NULL,
    locked_until TIMESTAMPTZ
);

CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id    UUID,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    target_type TEXT,
    target_id   TEXT,
    -- The area the event concerns (the actor's, or the target's), for scoping reads.
    area_path   TEXT,
    request_id  UUID,
    details     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at DESC, id DESC);
CREATE INDEX audit_events_actor ON audit_events (actor_id, at DESC);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

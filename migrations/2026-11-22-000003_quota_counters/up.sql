-- Signals submitted per principal and fixed quota window. The intake statement upserts
-- the principal's row, which locks it: concurrent submissions of one principal are
-- counted one after the other, and the check costs one row however large the quota.
CREATE TABLE quota_usage (
    user_id       UUID NOT NULL REFERENCES users (id),
    window_start  TIMESTAMPTZ NOT NULL,
    used          INTEGER NOT NULL CHECK (used >= 0),
    -- `used` before the latest statement, so that statement can tell how many of its
    -- signals it was granted (PostgreSQL 15's RETURNING cannot see the old row).
    previous      INTEGER NOT NULL CHECK (previous >= 0),
    PRIMARY KEY (user_id, window_start)
);

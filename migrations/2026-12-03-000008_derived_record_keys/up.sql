-- Record keys derived from what the signal is, not drawn at random (issue 12, item 2).
--
-- A random key per signal let anyone who can file and retract signals re-randomise a
-- cell: file six, read the published count, retract them, repeat; every round brought
-- fresh noise, and the average gave the true count away. Now the key of a signal is
-- HMAC-SHA-256(secret, submitter | cell | ordinal), where the ordinal counts that
-- submitter's live signals in that cell (0, 1, …). A retraction hands the retracted
-- ordinal to the submitter's last signal in the cell, so the live ordinals are always
-- 0 … m−1: the same live signals per submitter give the same key sum, and the same
-- published value, whatever was filed and retracted in between.

-- The secret, made here from the server's strong random source (gen_random_uuid() uses
-- pg_strong_random) and kept beside the data it protects: whoever reads this table can
-- read the exact counts anyway. Stored as the HMAC inner and outer pads (RFC 2104).
CREATE TABLE record_key_secret (
    only_row   BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    inner_pad  BYTEA NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad  BYTEA NOT NULL CHECK (length(outer_pad) = 64)
);
WITH k AS (
    SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text
                             || gen_random_uuid()::text, 'UTF8'))
           || decode(repeat('00', 32), 'hex') AS key
)
INSERT INTO record_key_secret (inner_pad, outer_pad)
SELECT (SELECT decode(string_agg(lpad(to_hex(get_byte(k.key, i) # 54), 2, '0'), '' ORDER BY i), 'hex')
          FROM generate_series(0, 63) AS i),
       (SELECT decode(string_agg(lpad(to_hex(get_byte(k.key, i) # 92), 2, '0'), '' ORDER BY i), 'hex')
          FROM generate_series(0, 63) AS i)
  FROM k;

-- The record key of a submitter's ordinal-th live signal in a cell: the first 31 bits
-- of the HMAC, uniform in [0, 2^31) as docs/design.md §5 requires.
CREATE FUNCTION derived_record_key(submitted_by UUID, week DATE, area_id INTEGER,
                                   age_band_id SMALLINT, category_id SMALLINT,
                                   arena_id SMALLINT, gender TEXT, source TEXT,
                                   ordinal INTEGER)
RETURNS INTEGER LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ((get_byte(h, 0) & 127) << 24) | (get_byte(h, 1) << 16)
           | (get_byte(h, 2) << 8) | get_byte(h, 3)
      FROM (SELECT sha256(s.outer_pad || sha256(s.inner_pad || convert_to(
                       concat_ws('|', submitted_by, week, area_id, age_band_id, category_id,
                                 arena_id, gender, source, ordinal), 'UTF8'))) AS h
              FROM record_key_secret AS s) AS hmac
$$;

-- How many live signals each submitter has in each cell: the next ordinal. An upsert
-- on this row takes its lock and reads its latest value, so concurrent submissions of
-- one submitter to one cell get consecutive ordinals. Record-level like `signals`, and
-- purged with them.
CREATE TABLE submitter_cells (
    submitted_by  UUID NOT NULL REFERENCES users (id),
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    age_band_id   SMALLINT NOT NULL,
    category_id   SMALLINT NOT NULL,
    arena_id      SMALLINT NOT NULL,
    gender        TEXT NOT NULL,
    source        TEXT NOT NULL,
    live          INTEGER NOT NULL CHECK (live >= 0),
    PRIMARY KEY (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source)
);
CREATE INDEX submitter_cells_week ON submitter_cells (week);

-- No signal may be filed or retracted (by an older instance still running) while the
-- keys are swapped below.
LOCK TABLE signals, signal_cells, signal_cells_by_area, signal_cells_by_week_area
    IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE signals ADD COLUMN ordinal INTEGER;
UPDATE signals AS s
   SET ordinal = o.ordinal
  FROM (SELECT id, (row_number() OVER (
                   PARTITION BY submitted_by, week, area_id, age_band_id, category_id,
                                arena_id, gender, source
                   ORDER BY created_at, id) - 1)::int AS ordinal
          FROM signals) AS o
 WHERE s.id = o.id;
ALTER TABLE signals ALTER COLUMN ordinal SET NOT NULL,
                    ADD CHECK (ordinal >= 0);
CREATE INDEX signals_submitter_cell ON signals
    (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, ordinal);

INSERT INTO submitter_cells (submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, live)
SELECT submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source, count(*)
  FROM signals
 GROUP BY submitted_by, week, area_id, age_band_id, category_id, arena_id, gender, source;

-- Swap every live signal's random key for its derived key in the cells' key sums. Cells
-- of purged weeks keep their sums: nothing can be filed or retracted there any more.
CREATE TEMPORARY TABLE rekeyed ON COMMIT DROP AS
SELECT week, area_id, age_band_id, category_id, arena_id, gender, source,
       sum(derived_record_key(submitted_by, week, area_id, age_band_id, category_id,
                              arena_id, gender, source, ordinal)::bigint - record_key) AS delta
  FROM signals
 GROUP BY week, area_id, age_band_id, category_id, arena_id, gender, source;

UPDATE signal_cells AS c SET key_sum = c.key_sum + r.delta
  FROM rekeyed AS r
 WHERE (c.week, c.area_id, c.age_band_id, c.category_id, c.arena_id, c.gender, c.source)
     = (r.week, r.area_id, r.age_band_id, r.category_id, r.arena_id, r.gender, r.source);
UPDATE signal_cells_by_area AS c SET key_sum = c.key_sum + r.delta
  FROM (SELECT week, area_id, category_id, age_band_id, sum(delta) AS delta
          FROM rekeyed GROUP BY week, area_id, category_id, age_band_id) AS r
 WHERE (c.week, c.area_id, c.category_id, c.age_band_id) = (r.week, r.area_id, r.category_id, r.age_band_id);
UPDATE signal_cells_by_week_area AS c
   SET key_sum = c.key_sum + r.delta, revision = nextval('cell_revisions')
  FROM (SELECT week, area_id, sum(delta) AS delta FROM rekeyed GROUP BY week, area_id) AS r
 WHERE (c.week, c.area_id) = (r.week, r.area_id);

ALTER TABLE signals DROP COLUMN record_key;

-- Trends, population and interventions (issue 5).

-- The coarse tables below are filled from signal_cells and must equal it: no signal may
-- be stored (by an older instance still running) between the copy and the commit.
LOCK TABLE signal_cells IN SHARE MODE;

-- The cells summed over arena, gender and source: the shape of most trend and alert
-- queries (area × category × age band per week) in about a twentieth of the rows.
-- Every statement that changes signal_cells changes this table in step, so any roll-up
-- has the same n and key_sum, and so the same published value, from either table.
CREATE TABLE signal_cells_by_area (
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    category_id   SMALLINT NOT NULL REFERENCES categories (id),
    age_band_id   SMALLINT NOT NULL REFERENCES age_bands (id),
    n             BIGINT NOT NULL CHECK (n >= 0),
    key_sum       BIGINT NOT NULL CHECK (key_sum >= 0),
    PRIMARY KEY (week, area_id, category_id, age_band_id)
);

INSERT INTO signal_cells_by_area (week, area_id, category_id, age_band_id, n, key_sum)
SELECT week, area_id, category_id, age_band_id, sum(n), sum(key_sum)
  FROM signal_cells
 GROUP BY week, area_id, category_id, age_band_id;

-- Persons per district and age band and year, for rates per 1,000.
CREATE TABLE population (
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    age_band_id   SMALLINT NOT NULL REFERENCES age_bands (id),
    year          SMALLINT NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    persons       INTEGER NOT NULL CHECK (persons >= 0),
    updated_by    UUID NOT NULL REFERENCES users (id),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (area_id, age_band_id, year)
);

-- Preventive interventions whose effect coordinators follow (DESIGN §6).
CREATE TABLE interventions (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    -- Codes are never deleted (only deactivated), so ids in these arrays stay valid.
    category_ids  SMALLINT[] NOT NULL CHECK (cardinality(category_ids) >= 1),
    age_band_ids  SMALLINT[] NOT NULL CHECK (cardinality(age_band_ids) >= 1),
    level         TEXT NOT NULL CHECK (level IN ('universal', 'selective', 'indicated')),
    start_week    DATE NOT NULL CHECK (extract(isodow FROM start_week) = 1),
    end_week      DATE CHECK (extract(isodow FROM end_week) = 1),
    created_by    UUID NOT NULL REFERENCES users (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (end_week IS NULL OR end_week >= start_week)
);
CREATE INDEX interventions_by_area ON interventions (area_id, created_at DESC, id DESC);

-- The cells summed per week and district only: what `by=area` over all categories reads
-- (one row where signal_cells_by_area has ~65). Kept in step like the table above.
CREATE TABLE signal_cells_by_week_area (
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    n             BIGINT NOT NULL CHECK (n >= 0),
    key_sum       BIGINT NOT NULL CHECK (key_sum >= 0),
    PRIMARY KEY (week, area_id)
);

INSERT INTO signal_cells_by_week_area (week, area_id, n, key_sum)
SELECT week, area_id, sum(n), sum(key_sum) FROM signal_cells GROUP BY week, area_id;

-- The cells summed per week, district and reporting service: what Översikt's
-- "signals per service" reads (by=source over all categories), which from signal_cells
-- meant summing every cell of a municipality (a second at 10 M signals). Kept in step
-- with signal_cells on every submission and retraction, like the tables of migration 4.
CREATE TABLE signal_cells_by_week_area_source (
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    source        TEXT NOT NULL,
    n             BIGINT NOT NULL CHECK (n >= 0),
    key_sum       BIGINT NOT NULL CHECK (key_sum >= 0),
    PRIMARY KEY (week, area_id, source)
);

INSERT INTO signal_cells_by_week_area_source (week, area_id, source, n, key_sum)
SELECT week, area_id, source, sum(n), sum(key_sum) FROM signal_cells GROUP BY week, area_id, source;

-- The cube packed for exports (issue 5): one block per week and district holding all of
-- its cells in a compact binary form (`src/cube.rs`), so that a year's export reads a few
-- hundred blocks instead of millions of rows.

-- Every change to the cells of a week and district moves its row here in the same
-- statement; the revision, drawn from a sequence, says which state of those cells a
-- block was built from. A sequence rather than a counter, so that no state can ever get
-- a revision an earlier state had (not even after a bulk reload of the cells).
CREATE SEQUENCE cell_revisions;
ALTER TABLE signal_cells_by_week_area
    ADD COLUMN revision BIGINT NOT NULL DEFAULT nextval('cell_revisions');

-- A block is valid while its revision equals its row's in signal_cells_by_week_area;
-- readers use valid blocks and read the cells themselves for the rest, so a stale block
-- can make an export slower, never wrong. `serve` rebuilds stale blocks every minute.
CREATE TABLE cube_blocks (
    week          DATE NOT NULL,
    area_id       INTEGER NOT NULL REFERENCES areas (id),
    revision      BIGINT NOT NULL,
    cells         BYTEA NOT NULL,
    built_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (week, area_id)
);
-- The blocks are already compact: compressing them would only cost CPU on every read.
ALTER TABLE cube_blocks ALTER COLUMN cells SET STORAGE EXTERNAL;

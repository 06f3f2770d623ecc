DROP TABLE cube_blocks;
ALTER TABLE signal_cells_by_week_area DROP COLUMN revision;
DROP SEQUENCE cell_revisions;

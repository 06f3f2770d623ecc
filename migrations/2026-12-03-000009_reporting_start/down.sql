DROP INDEX signal_cells_by_week_area_first;
ALTER TABLE areas DROP COLUMN reporting_start;

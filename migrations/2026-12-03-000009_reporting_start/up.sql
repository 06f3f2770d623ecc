-- Each municipality's reporting start (docs/design.md §6): the first ISO week (its
-- Monday) from which its signals are complete. Before it every series point is missing,
-- not zero. NULL means the default, the first week any of its districts has a signal in
-- (read from signal_cells_by_week_area, so it follows the live counts). Only
-- municipalities have one: a district reports with its municipality, and an area above
-- reads the earliest of the municipalities under it.
ALTER TABLE areas ADD COLUMN reporting_start DATE
    CHECK (reporting_start IS NULL
           OR (level = 'municipality' AND extract(isodow FROM reporting_start) = 1));

-- The default start is the first week with a live signal per district: one short index
-- scan per district instead of reading every week. Only the key columns are indexed, so
-- the intake's counter updates stay HOT.
CREATE INDEX signal_cells_by_week_area_first ON signal_cells_by_week_area (area_id, week);

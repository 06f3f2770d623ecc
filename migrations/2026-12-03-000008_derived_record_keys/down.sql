-- Back to stored record keys: each live signal keeps the key it has now, so the cells'
-- key sums stay right.
ALTER TABLE signals ADD COLUMN record_key INTEGER;
UPDATE signals SET record_key = derived_record_key(submitted_by, week, area_id, age_band_id,
    category_id, arena_id, gender, source, ordinal);
ALTER TABLE signals ALTER COLUMN record_key SET NOT NULL,
                    ADD CHECK (record_key >= 0);
DROP INDEX signals_submitter_cell;
ALTER TABLE signals DROP COLUMN ordinal;
DROP TABLE submitter_cells;
DROP FUNCTION derived_record_key;
DROP TABLE record_key_secret;

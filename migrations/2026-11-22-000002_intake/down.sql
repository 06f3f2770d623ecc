DROP TABLE idempotency_keys;
DROP TABLE signal_cells;
DROP TABLE signals;
DROP TABLE arenas;
DROP TABLE categories;
DROP TABLE age_bands;

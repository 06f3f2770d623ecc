DROP TABLE signal_cells_by_week_area;
DROP TABLE interventions;
DROP TABLE population;
DROP TABLE signal_cells_by_area;

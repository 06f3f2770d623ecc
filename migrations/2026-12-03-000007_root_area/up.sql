-- One root for the area tree: the whole country. The shared vocabulary (categories,
-- arenas, age bands) belongs to whoever runs the whole service, and "the admins of the
-- root" needs a root to name them by (docs/design.md §3). Its path is `/`, so every
-- existing path `/<region>/…` lies in its subtree by the prefix rule and no path changes.
ALTER TABLE areas DROP CONSTRAINT areas_level_check;
ALTER TABLE areas ADD CONSTRAINT areas_level_check
    CHECK (level IN ('national', 'region', 'municipality', 'district'));
ALTER TABLE areas DROP CONSTRAINT areas_check;

INSERT INTO areas (code, name, level, path) VALUES ('sverige', 'Sverige', 'national', '/');
UPDATE areas SET parent_id = (SELECT id FROM areas WHERE level = 'national')
 WHERE level = 'region';

-- Only the root has no parent, and there is one root.
ALTER TABLE areas ADD CONSTRAINT areas_check CHECK ((level = 'national') = (parent_id IS NULL));
CREATE UNIQUE INDEX areas_one_root ON areas (level) WHERE level = 'national';

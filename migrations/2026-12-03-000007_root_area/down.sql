-- Anything filed under the root (its admins, an intervention on the whole country) has
-- no area to fall back to: refuse, rather than guess where it belongs.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM users u JOIN areas a ON a.id = u.area_id WHERE a.level = 'national')
    THEN
        RAISE EXCEPTION 'users belong to the root area; move them to a region first';
    END IF;
END;
$$;

DROP INDEX areas_one_root;
ALTER TABLE areas DROP CONSTRAINT areas_check;
UPDATE areas SET parent_id = NULL WHERE level = 'region';
DELETE FROM areas WHERE level = 'national';
ALTER TABLE areas ADD CONSTRAINT areas_check CHECK ((level = 'region') = (parent_id IS NULL));
ALTER TABLE areas DROP CONSTRAINT areas_level_check;
ALTER TABLE areas ADD CONSTRAINT areas_level_check
    CHECK (level IN ('region', 'municipality', 'district'));

-- The dropped values are not restored (they held what clients typed); nothing to undo.
SELECT 1;

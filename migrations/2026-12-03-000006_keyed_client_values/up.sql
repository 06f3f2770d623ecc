-- Idempotency keys and login-throttle keys are stored as keyed digests from now on
-- (services::intake, services::sessions). Rows written before held the values as typed,
-- which may be personal data: they are dropped. Both tables are short-lived state (a day,
-- a quarter of an hour): a retry spanning the upgrade is treated as new, and failed-login
-- counters start again.
DELETE FROM idempotency_keys;
DELETE FROM login_throttle;

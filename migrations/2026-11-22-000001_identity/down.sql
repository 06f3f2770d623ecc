DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE login_throttle;
DROP TABLE api_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE areas;

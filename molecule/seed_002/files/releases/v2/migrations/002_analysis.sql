-- Release v2's migration: fails if it ever runs twice (primary key), so "ran once" is checkable.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO schema_migrations (version) VALUES ('002_analysis');
ALTER TABLE items ADD COLUMN analysed_at timestamptz;

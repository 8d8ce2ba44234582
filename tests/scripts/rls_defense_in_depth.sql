-- Defense in depth, measured: the parser-differential attacks of issue 16
-- that PostgreSQL's syntax has, run with the rewrite out of the way, as a
-- non-superuser role under the same row-level-security policies the
-- library installs (tenant 2). Shows which the policies alone stop.
-- Run: psql -X -h 127.0.0.1 -U root -d test -f tests/scripts/rls_defense_in_depth.sql
\set ON_ERROR_STOP 0
DROP SCHEMA IF EXISTS rls_probe CASCADE;
CREATE SCHEMA rls_probe;
SET search_path = rls_probe;
DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rls_probe_app') THEN CREATE ROLE rls_probe_app NOLOGIN; END IF; END $$;
GRANT USAGE ON SCHEMA rls_probe TO rls_probe_app;
CREATE TABLE leads (id int PRIMARY KEY, entity_id bigint NOT NULL, name text);
CREATE TABLE task (id int PRIMARY KEY, entity_id bigint NOT NULL, title text);
CREATE TABLE disposition_kind (id int PRIMARY KEY, label text);
CREATE TABLE platform_secret (id int PRIMARY KEY, value text);
INSERT INTO leads VALUES (1,1,'l1'),(2,2,'l2'),(3,3,'l3');
INSERT INTO task VALUES (1,1,'t1'),(2,2,'t2'),(3,3,'t3');
INSERT INTO disposition_kind VALUES (1,'callback');
INSERT INTO platform_secret VALUES (1,'hunter2');
DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY['leads','task'] LOOP
  EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
  EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
  EXECUTE format($p$CREATE POLICY tenant ON %I AS PERMISSIVE FOR ALL USING (entity_id = (SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint)) WITH CHECK (entity_id = (SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint))$p$, t);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO rls_probe_app', t);
END LOOP; END $$;
GRANT SELECT ON disposition_kind TO rls_probe_app;
-- what a careless deployment grants: the app role can read every table of its schema
GRANT SELECT ON platform_secret TO rls_probe_app;
SET ROLE rls_probe_app;
SELECT set_config('tenancy.tenant_id', '2', false);
\echo == class 2: ts_rewrite over an unregistered table
SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, quote_literal(value)::tsquery FROM platform_secret')::text;
\echo == class 3: Kelvin-sign CTE, real table read
WITH tasK AS (SELECT 1) SELECT title FROM task;
\echo == class 5: standard_conforming_strings off
SET standard_conforming_strings = off;
SELECT 'a\'' , (SELECT value FROM platform_secret) AS s -- ' AS x FROM disposition_kind
;
SET standard_conforming_strings = on;
\echo == set_config as the tenant, then read
SELECT set_config('tenancy.tenant_id', '3', false), (SELECT string_agg(title, ',') FROM task);
RESET ROLE;
DROP SCHEMA rls_probe CASCADE;
DROP ROLE rls_probe_app;

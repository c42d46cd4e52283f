#!/bin/bash
# First start of the database only (/docker-entrypoint-initdb.d): the roles PostgREST
# switches to (as migrations/1795420000000_initial-schema.sql creates them, which then
# finds them present) and the `authenticator` login role it connects as, with
# PGRST_AUTHENTICATOR_PASSWORD. The tables come from the one-shot `migrate` service.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v pw="${PGRST_AUTHENTICATOR_PASSWORD:?PGRST_AUTHENTICATOR_PASSWORD must be set}" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
END $$;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD :'pw';
GRANT anon, authenticated, service_role TO authenticator;
SQL

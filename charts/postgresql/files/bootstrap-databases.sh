#!/bin/bash
# Managed PostgreSQL (RDS): one database and one login role per service, with least privilege.
# Run by the postgresql chart's bootstrap Job (mode externalName) as RDS's master user, which is
# not a superuser: it has CREATEROLE and CREATEDB only. Idempotent: a second run changes nothing
# (but a rotated password, which it sets again).
#
# What each service role gets, and nothing more:
#   - LOGIN, NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT: it cannot grow its own rights;
#   - CONNECT (and TEMPORARY) on its own database, which the master user keeps owning, so the role
#     cannot drop it, rename it or create schemas in it; PUBLIC may not connect to it at all;
#   - ownership of the schema public in its own database: the migrations create its tables there.
#
# Environment: libpq's (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE...) for the master user;
# SHOPFLOOR_DATABASES (space-separated names); SHOPFLOOR_SECRETS_DIR holding <name>-password files.
set -euo pipefail

: "${SHOPFLOOR_DATABASES:?space-separated database names}"
secrets_dir="${SHOPFLOOR_SECRETS_DIR:-/run/secrets/postgresql}"
admin_db="${SHOPFLOOR_ADMIN_DATABASE:-postgres}"

for name in $SHOPFLOOR_DATABASES; do
    if [[ ! "$name" =~ ^[a-z][a-z0-9_]{0,62}$ ]]; then
        echo "bootstrap-databases: $name is not a database name (lower case, digits, _)" >&2
        exit 2
    fi
    password_file="$secrets_dir/$name-password"
    if [[ ! -s "$password_file" ]]; then
        echo "bootstrap-databases: missing $password_file (property $name-password of the postgresql secret)" >&2
        exit 1
    fi
done

for name in $SHOPFLOOR_DATABASES; do
    password="$(<"$secrets_dir/$name-password")"
    # psql variables quote the name (:"...") and the password (:'...'): never parsed as SQL.
    # CREATE DATABASE cannot run inside a transaction block, hence \gexec statement by statement.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --dbname "$admin_db" \
        --set=name="$name" --set=password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
-- NOSUPERUSER is CREATE ROLE's default; only a superuser may even restate it (RDS's master is none).
ALTER ROLE :"name" WITH LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'password';
SELECT format('CREATE DATABASE %I', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
    # In the service's own database: it owns the schema public (its tables), nobody else creates there.
    # The master user (not a superuser on RDS) may give a schema away only to a role it is a member of.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --dbname "$name" --set=name="$name" <<'SQL'
SELECT format('GRANT %I TO CURRENT_USER', :'name')
 WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
   AND NOT pg_has_role(current_user, :'name', 'MEMBER') \gexec
ALTER SCHEMA public OWNER TO :"name";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
    echo "bootstrap-databases: database and role $name ready"
done

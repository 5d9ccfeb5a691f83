#!/bin/bash
# One database and one login role per service, each owning its database; nobody else may connect.
# Run by the postgres image on the first start of an empty volume (/docker-entrypoint-initdb.d),
# and safe to run again by hand after adding a service or rotating a password:
#   kubectl exec postgresql-0 -- bash /docker-entrypoint-initdb.d/10-databases.sh
set -euo pipefail

: "${SHOPFLOOR_DATABASES:?space-separated database names}"
secrets_dir="${SHOPFLOOR_SECRETS_DIR:-/run/secrets/postgresql}"
superuser="${POSTGRES_USER:-postgres}"

for name in $SHOPFLOOR_DATABASES; do
    password_file="$secrets_dir/$name-password"
    if [[ ! -s "$password_file" ]]; then
        echo "init-databases: missing $password_file (key $name-password of the credentials Secret)" >&2
        exit 1
    fi
    password="$(<"$password_file")"
    # psql variables quote the name (:"...") and the password (:'...'), so neither is ever parsed as SQL.
    psql -v ON_ERROR_STOP=1 --username "$superuser" --dbname postgres \
        --set=name="$name" --set=password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
    echo "init-databases: database and role $name ready"
done

#!/bin/sh
# The official image executes this once, when it initialises an empty data volume, as POSTGRES_USER: the
# role the pipeline connects as, so the read-only role's default privileges cover the tables dbt creates.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader="$MLWATCH_READONLY_USER" -v password="$MLWATCH_READONLY_PASSWORD" \
    -f "$(dirname "$0")/readonly-role.psql"

#!/bin/sh
# Patroni's post_bootstrap: the gateway's user and database, once, on the
# first leader (Patroni passes a connection string as $1).
set -eu
psql -v ON_ERROR_STOP=1 -v password="$POSTGRES_PASSWORD" "$1" <<'SQL'
CREATE ROLE gateway LOGIN PASSWORD :'password';
CREATE DATABASE gateway OWNER gateway;
SQL

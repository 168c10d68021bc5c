#!/usr/bin/env bash
# Let the local PostgreSQL accept replication connections from loopback
# (trust, like its other loopback connections), for the read-replica test's
# pg_basebackup and streaming standby. Idempotent: adds the line once, reloads.
set -euo pipefail
hba=$(psql -h 127.0.0.1 -U root -d postgres -Atc "SHOW hba_file")
line="host replication all 127.0.0.1/32 trust"
if ! grep -qxF "$line" "$hba"; then
  echo "$line" >> "$hba"
  psql -h 127.0.0.1 -U root -d postgres -qAtc "SELECT pg_reload_conf()" >/dev/null
fi

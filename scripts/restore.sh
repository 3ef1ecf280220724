#!/usr/bin/env bash
# Restores a file of scripts/backup.sh into a new, empty database, all or
# nothing (one transaction: on any error nothing is left behind), owned by the
# user restoring it; then refreshes the planner's statistics (a restore has none).
#
#   createdb toolsets_restored      # or CREATE DATABASE, or your platform's console
#   scripts/restore.sh <file> <database-url>
#
# A database that already holds tables is refused. PG_BIN picks the client
# tools of one version, as for backup.sh; pg_restore must be at least as new
# as the pg_dump that wrote the file.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <file> <database-url>" >&2
  exit 2
fi
file=$1
url=$2
bin=${PG_BIN:+$PG_BIN/}
tables=$("${bin}psql" --no-psqlrc --quiet --tuples-only --no-align --dbname="$url" \
  --command="SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
if [ "$tables" != 0 ]; then
  echo "$0: the target database holds $tables tables; restore into a new, empty database" >&2
  exit 1
fi
"${bin}pg_restore" --exit-on-error --single-transaction --no-owner --no-privileges --dbname="$url" "$file"
"${bin}vacuumdb" --analyze-only --quiet --dbname="$url"
echo "restored $file"

#!/usr/bin/env bash
# Backs up the service's database into one file, in pg_dump's custom format
# (compressed; pg_restore reads it, also table by table). A consistent snapshot:
# the service keeps running while it is taken.
#
#   scripts/backup.sh <database-url> <file>
#
# pg_dump must be of the server's major version or newer (it refuses an older
# one). PG_BIN picks the client tools of one version, e.g.
# PG_BIN=/usr/lib/postgresql/17/bin; by default the first pg_dump on PATH.
# The file appears only when the dump is complete and readable.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <database-url> <file>" >&2
  exit 2
fi
url=$1
file=$2
bin=${PG_BIN:+$PG_BIN/}
partial="$file.partial"
trap 'rm -f "$partial"' EXIT
"${bin}pg_dump" --format=custom --file="$partial" --dbname="$url"
"${bin}pg_restore" --list "$partial" >/dev/null
mv "$partial" "$file"
echo "backed up to $file ($(wc -c <"$file") bytes)"

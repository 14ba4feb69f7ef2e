#!/usr/bin/env bash
# Start a PostgreSQL server for Mandate's tests and print its DSN.
#
#   scripts/postgres.sh [PORT] [DIR]
#
# PORT defaults to 5433, DIR to the repository's .cache/postgres (git-ignored).
# Installs Debian's postgresql package when no server binaries are present,
# initialises a cluster under DIR, starts it on 127.0.0.1:PORT as the
# `postgres` user, creates the role mandate/mandate with CREATEDB, waits
# until it accepts connections and prints
#
#   postgres://mandate:mandate@127.0.0.1:PORT/postgres?sslmode=disable
#
# on stdout; everything else goes to stderr, so
#
#   export MANDATE_TEST_POSTGRES=$(scripts/postgres.sh)
#
# works. Running it again reuses the running server. Meant for a test machine
# (root on Debian 12, or CI=true with no input); run as a non-root user it
# needs the binaries already installed and runs the server as that user.
set -euo pipefail

port=${1:-5433}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${2:-$repo/.cache/postgres}

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case $port in '' | *[!0-9]*) die "port must be a number, got '$port'" ;; esac

# The newest installed server, e.g. /usr/lib/postgresql/15/bin.
find_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n $d && -x $d/pg_ctl ]] && printf '%s\n' "$d"
}

bindir=$(find_bindir || true)
if [[ -z $bindir ]]; then
	[[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed; run as root to install it, or install the postgresql package"
	log "installing PostgreSQL from the distribution"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	# Install the cluster tools first and tell them not to create and start
	# the default cluster on 5432: this script runs its own.
	apt-get install -y --no-install-recommends postgresql-common >&2
	if [[ -f /etc/postgresql-common/createcluster.conf ]]; then
		sed -i 's/^#\?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
	fi
	apt-get install -y --no-install-recommends postgresql >&2
	bindir=$(find_bindir) || die "installed postgresql but found no /usr/lib/postgresql/*/bin/pg_ctl"
fi
version=$(basename "$(dirname "$bindir")")

# Who runs the server: PostgreSQL refuses to run as root.
if [[ $(id -u) -eq 0 ]]; then
	owner=postgres
	super=postgres
	id "$owner" >/dev/null 2>&1 || die "user $owner does not exist (is the postgresql package installed?)"
	as_owner() { runuser -u "$owner" -- "$@"; }
else
	owner=$(id -un)
	super=$owner # peer authentication maps the OS user to the role of that name
	as_owner() { "$@"; }
fi

# The server must reach its data directory. A checkout under /root is not
# searchable by `postgres`, so fall back to a directory it owns rather than
# loosen permissions on the caller's home.
mkdir -p "$base"
if ! as_owner test -x "$base" 2>/dev/null && [[ $(id -u) -eq 0 ]]; then
	fallback=/var/lib/postgresql/mandate
	log "$owner cannot reach $base; using $fallback instead"
	base=$fallback
	mkdir -p "$base"
fi
cluster=$base/$version-$port
data=$cluster/data
logfile=$cluster/server.log
if [[ $(id -u) -eq 0 ]]; then
	sockdir=/var/run/postgresql
else
	sockdir=${TMPDIR:-/tmp}
fi
mkdir -p "$cluster" "$sockdir"
if [[ $(id -u) -eq 0 ]]; then
	chown "$owner" "$base"
	chown -R "$owner" "$cluster"
	chown "$owner" "$sockdir"
fi

if [[ ! -s $data/PG_VERSION ]]; then
	log "initialising PostgreSQL $version cluster in $data"
	# Local socket connections by the server's OS user only (peer); TCP by
	# password. The role for the tests is created below.
	as_owner "$bindir/initdb" -D "$data" -U "$super" -E UTF8 --locale=C \
		--auth-local=peer --auth-host=scram-sha-256 >&2
fi

opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sockdir"
if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	log "PostgreSQL $version already running in $data"
else
	log "starting PostgreSQL $version on 127.0.0.1:$port (log: $logfile)"
	if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$logfile" -o "$opts" -w -t 60 start >&2; then
		tail -n 20 "$logfile" >&2 || true
		die "PostgreSQL did not start (is port $port taken?)"
	fi
fi

ready=
for _ in $(seq 1 60); do
	if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port"; then
		ready=1
		break
	fi
	sleep 0.5
done
[[ -n $ready ]] || die "PostgreSQL on 127.0.0.1:$port did not accept connections within 30s"

as_owner "$bindir/psql" -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -U "$super" -d postgres >&2 <<'SQL'
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mandate') THEN
		CREATE ROLE mandate LOGIN CREATEDB PASSWORD 'mandate';
	ELSE
		ALTER ROLE mandate LOGIN CREATEDB PASSWORD 'mandate';
	END IF;
END
$$;
-- DROP DATABASE ... WITH (FORCE) at a test's end must be able to end an
-- autovacuum worker that happens to be in the database.
GRANT pg_signal_backend TO mandate;
SQL

printf 'postgres://mandate:mandate@127.0.0.1:%s/postgres?sslmode=disable\n' "$port"

#!/usr/bin/env bash
# The whole test suite, as the README gives it: prepares the devnet's
# contract artifacts, starts PostgreSQL on a loopback port when it can, vets
# everything (the separate benchmark module too), under CI=true runs each
# fuzz target for a short bounded time, and then runs every test on SQLite
# and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

export MANDATE_ARTIFACTS="${MANDATE_ARTIFACTS:-$repo/.cache/artifacts}"
echo "== devnet artifacts (pinned npm packages, compiled sources) ==" >&2
go run ./cmd/mandate devnet setup

if [ -z "${MANDATE_TEST_POSTGRES:-}" ]; then
  if dsn=$(bash scripts/postgres.sh "${MANDATE_PG_PORT:-5433}" "$repo/.cache/postgres"); then
    export MANDATE_TEST_POSTGRES="$dsn"
  elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL could not be started; CI runs every store test on it" >&2
    exit 1
  else
    echo "PostgreSQL could not be started: the store tests run on SQLite only" >&2
  fi
fi

echo "== go vet ==" >&2
go vet ./...
(cd bench/rego && go vet ./...)
(cd bench/langchain && go vet ./...)

if [ "${CI:-}" = "true" ]; then
  fuzztime="${MANDATE_FUZZTIME:-8s}"
  echo "== fuzz targets, $fuzztime each ==" >&2
  grep -rl --include='*_test.go' '^func Fuzz' . | grep -v -e '/bench/' -e '/.cache/' | sort | while read -r f; do
    pkg="./$(dirname "${f#./}")"
    for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
      echo "fuzz $pkg $target" >&2
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/dev/null
    done
  done
fi

echo "== go test ==" >&2
go test -count=1 -timeout 30m ./...

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
      log=$(mktemp)
      # A crash the fuzzer finds is saved under testdata/fuzz and fails the
      # run. The fuzzing engine itself can fail on a loaded 2-core machine
      # without any input to blame ("hung or terminated unexpectedly", or
      # "context deadline exceeded" when running the seed corpus alone
      # outlasts the time given): that gets one more try with three times
      # the time, and if the engine fails again with still no crashing
      # input, a warning. The seed corpus itself runs in `go test` below.
      for try in 1 2; do
        t="$fuzztime"
        case "$try:$fuzztime" in 2:*[0-9]s) t="$((${fuzztime%s} * 3))s" ;; esac
        if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" -parallel 1 "$pkg" >"$log" 2>&1; then
          break
        fi
        if [ -n "$(git status --porcelain -- "${pkg#./}/testdata/fuzz/$target" 2>/dev/null)" ]; then
          cat "$log" >&2
          echo "fuzz target $target in $pkg found a crashing input (saved under testdata/fuzz)" >&2
          exit 1
        fi
        if [ "$try" = 2 ]; then
          tail -5 "$log" >&2
          echo "WARNING: fuzz $target: the fuzzing engine failed twice without a crashing input on this machine; its seed corpus still runs in go test" >&2
          break
        fi
        echo "fuzz $target: the fuzzing engine failed without a crashing input; trying once more" >&2
        tail -5 "$log" >&2
      done
      rm -f "$log"
    done
  done
fi

echo "== go test ==" >&2
go test -count=1 -timeout 30m ./...

#!/usr/bin/env bash
# Requests per second for a mixed read/write load (80% GET /api/leads, 20%
# POST /api/calls) from wrk on loopback, both companies at once, against the
# CRM (`crm`) and against the same routes with the tenancy layers removed and
# the tenant filter written by hand (`crm-baseline`). Each variant gets a
# fresh database; the rounds alternate so drift hits both alike.
#
#   examples/crm/load/run.sh [sqlite|postgres] [seconds per run] [rounds]
#
# Needs wrk (Debian: apt-get install wrk) and, for postgres, the local server
# (role root, as .ci/run sets up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

backend=${1:-sqlite}
secs=${2:-10}
rounds=${3:-2}
port=3077
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

cargo build --release -q -p crm --bins

fresh_url() {
    case "$backend" in
    sqlite)
        rm -f "$tmp"/load.db*
        echo "sqlite://$tmp/load.db?mode=rwc"
        ;;
    postgres)
        psql -X -q -h 127.0.0.1 -U root -d test -c "DROP DATABASE IF EXISTS crm_load" >/dev/null
        psql -X -q -h 127.0.0.1 -U root -d test -c "CREATE DATABASE crm_load" >/dev/null
        echo "postgres://root@127.0.0.1:5432/crm_load"
        ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
    esac
}

login() { # host email -> cookie value
    curl -s -c - -H "Host: $1" -H 'content-type: application/json' \
        -d "{\"email\":\"$2\",\"password\":\"demo\"}" "http://127.0.0.1:$port/api/login" |
        awk '$6 == "crm_session" { print $7 }'
}

run_variant() { # binary -> prints total requests/sec
    local bin=$1 url
    url=$(fresh_url)
    DATABASE_URL="$url" CRM_ADDR="127.0.0.1:$port" RUST_LOG=warn "target/release/$bin" >"$tmp/$bin.log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    local gk st
    gk=$(login goldenkey.localhost ava@goldenkey.example)
    st=$(login stone.localhost leo@stone.example)
    [[ -n "$gk" && -n "$st" ]] || { echo "login failed for $bin" >&2; cat "$tmp/$bin.log" >&2; exit 1; }
    wrk -t1 -c8 -d"${secs}s" -s examples/crm/load/mixed.lua -H "Host: goldenkey.localhost" \
        -H "Cookie: crm_session=$gk" "http://127.0.0.1:$port" >"$tmp/gk.out" &
    wrk -t1 -c8 -d"${secs}s" -s examples/crm/load/mixed.lua -H "Host: stone.localhost" \
        -H "Cookie: crm_session=$st" "http://127.0.0.1:$port" >"$tmp/st.out"
    wait %2 2>/dev/null || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if grep -q "Non-2xx" "$tmp/gk.out" "$tmp/st.out"; then
        echo "$bin answered errors under load:" >&2; cat "$tmp/gk.out" "$tmp/st.out" "$tmp/$bin.log" >&2; exit 1
    fi
    awk '/Requests\/sec/ { s += $2 } END { printf "%.0f", s }' "$tmp/gk.out" "$tmp/st.out"
}

echo "backend=$backend, ${secs}s per run, wrk -t1 -c8 per company, 80% reads / 20% writes"
printf '%-6s %14s %14s %8s\n' round crm_rps baseline_rps ratio
for r in $(seq "$rounds"); do
    if ((r % 2)); then a=$(run_variant crm); b=$(run_variant crm-baseline)
    else b=$(run_variant crm-baseline); a=$(run_variant crm); fi
    printf '%-6s %14s %14s %8.3f\n' "$r" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done

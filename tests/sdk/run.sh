#!/usr/bin/env bash
# Runs the official Microsoft Graph Python SDK against `appreg sandbox serve`.
#
# Needs a Python with the SDK installed; this script installs nothing. The exact install line:
#
#     python3 -m pip install msgraph-sdk        # tested with msgraph-sdk 1.65.0
#
# Usage: tests/sdk/run.sh            (PYTHON=/path/to/venv/bin/python to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/../.."

python="${PYTHON:-python3}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --bin appreg
target/debug/appreg sandbox serve --listen 127.0.0.1:0 --state "$work/sandbox.json" \
    >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!

for _ in $(seq 1 300); do
    [[ -s "$work/serve.out" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "appreg sandbox serve exited early:" >&2
        cat "$work/serve.err" >&2
        exit 1
    fi
    sleep 0.1
done
info="$(head -n 1 "$work/serve.out")"
if [[ -z "$info" ]]; then
    echo "appreg sandbox serve printed nothing within 30 s" >&2
    exit 1
fi

SANDBOX_INFO="$info" "$python" tests/sdk/msgraph_scenario.py

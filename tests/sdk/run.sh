#!/usr/bin/env bash
# Runs Microsoft's own Python clients, unchanged, against `appreg sandbox serve --tls`: the Graph
# SDK (msgraph-sdk) authenticated by azure-identity with the sandbox as authority, and an MSAL
# confidential client. The only help they get is the sandbox CA in REQUESTS_CA_BUNDLE and
# SSL_CERT_FILE. Every other https address is sent to a dead loopback proxy, so a client that
# tried to reach the real login.microsoftonline.com fails instead of leaving the machine.
#
# Needs a Python with the clients installed; this script installs nothing. The exact install line:
#
#     python3 -m pip install msgraph-sdk azure-identity msal
#     # tested with msgraph-sdk 1.65.0, azure-identity 1.27.0, msal 1.39.0
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
target/debug/appreg sandbox serve --tls --listen 127.0.0.1:0 --state "$work/sandbox.json" \
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

ca="$("$python" -c 'import json, sys; print(json.loads(sys.argv[1])["caCertPath"])' "$info")"
export SANDBOX_INFO="$info" REQUESTS_CA_BUNDLE="$ca" SSL_CERT_FILE="$ca"
export HTTPS_PROXY="http://127.0.0.1:9" HTTP_PROXY="http://127.0.0.1:9" NO_PROXY="127.0.0.1,localhost"
"$python" tests/sdk/msgraph_scenario.py
"$python" tests/sdk/msal_token.py

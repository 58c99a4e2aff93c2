#!/usr/bin/env bash
# Drill: fuzz the running API against openapi.yaml with schemathesis, as an authenticated user.
# Fails on any 5xx or any response outside the documented schema and status codes.
#   bash bench/drills/contract_fuzz.sh [examples per operation, default 40]   (at least 2,000 requests)
#   bash bench/drills/contract_fuzz.sh --small                                 (CI: 2 per operation)
# MILKFLOW_BIN_DIR names the directory of a built milkflow-api; without it the release binary is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=40
least=2000
if [ "${1:-}" = "--small" ]; then
  examples=2
  least=100
elif [ -n "${1:-}" ]; then
  examples="$1"
fi
schemathesis=$(python3 -c 'import os, sys; print(os.path.join(os.path.dirname(sys.executable), "schemathesis"))')
if [ ! -x "$schemathesis" ]; then
  echo "schemathesis is not installed: python3 -m pip install -r bench/requirements.txt" >&2
  exit 1
fi
bin_dir="${MILKFLOW_BIN_DIR:-}"
if [ -z "$bin_dir" ]; then
  cargo build --release --bin milkflow-api --quiet
  bin_dir="$PWD/target/release"
fi
bin_dir=$(cd "$bin_dir" && pwd)  # the API runs in a temporary directory
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$dir" && exec env -u MILKFLOW_DATABASE_URL MILKFLOW_LISTEN="127.0.0.1:$port" MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE=0 \
  RUST_LOG=warn "$bin_dir/milkflow-api" >"$dir/api.log" 2>&1) &
api=$!  # the API itself (exec), so the trap stops it rather than only the subshell that started it
trap 'status=$?; kill $api 2>/dev/null; wait $api 2>/dev/null || true; rm -rf "$dir"; exit $status' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
credentials='{"email": "fuzz@example.org", "password": "gentle-circles-42"}'
curl -sf -X POST "http://127.0.0.1:$port/v1/auth/register" -H 'content-type: application/json' -d "$credentials" >/dev/null
token=$(curl -sf -X POST "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' \
  -d "$credentials" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# DELETE /v1/me would end the fuzzing user's session.
"$schemathesis" run openapi.yaml --url "http://127.0.0.1:$port" -H "Authorization: Bearer $token" \
  --max-examples "$examples" --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --exclude-operation-id delete_me --seed 42 2>&1 | tee "$dir/report.txt" | sed -n '/SUMMARY/,$p'
generated=$(grep -oE '[0-9]+ generated' "$dir/report.txt" | grep -oE '[0-9]+' || echo 0)
echo "requests generated: $generated"
if grep -qE 'Failures:' "$dir/report.txt"; then
  echo "contract fuzz: FAILED" >&2
  exit 1
fi
if [ "$generated" -lt "$least" ]; then
  echo "contract fuzz: only $generated requests; raise the examples per operation" >&2
  exit 1
fi
echo "contract fuzz: passed (no 5xx, no response outside the schema)"

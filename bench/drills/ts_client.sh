#!/usr/bin/env bash
# Drill: a strict TypeScript client generated from openapi.yaml (openapi-typescript + openapi-fetch, tsc --strict)
# compiles, then registers, signs in, PUTs a pump session, lists, syncs and reads a 422 against the API.
#   bash bench/drills/ts_client.sh [--small]   (one size; --small is accepted for the test runner)
# MILKFLOW_BIN_DIR names the directory of a built milkflow-api; without it the release binary is built.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bin_dir="${MILKFLOW_BIN_DIR:-}"
if [ -z "$bin_dir" ]; then
  cargo build --release --bin milkflow-api --quiet
  bin_dir="$PWD/target/release"
fi
bin_dir=$(cd "$bin_dir" && pwd)
tools=bench/drills/ts_client
if [ ! -x "$tools/node_modules/.bin/tsc" ]; then
  echo "the client's packages are not installed: npm install --prefix $tools --no-package-lock" >&2
  exit 1
fi
dir=$(mktemp -d)
cp "$tools/package.json" "$tools/tsconfig.json" "$tools/client.ts" "$dir/"
ln -s "$root/$tools/node_modules" "$dir/node_modules"
"$tools/node_modules/.bin/openapi-typescript" "$root/openapi.yaml" -o "$dir/schema.ts" >/dev/null
(cd "$dir" && "$root/$tools/node_modules/.bin/tsc" -p tsconfig.json)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$dir" && exec env -u MILKFLOW_DATABASE_URL MILKFLOW_LISTEN="127.0.0.1:$port" MILKFLOW_AUTH_RATE_LIMIT_PER_MINUTE=0 \
  RUST_LOG=warn "$bin_dir/milkflow-api" >"$dir/api.log" 2>&1) &
api=$!
trap 'status=$?; kill $api 2>/dev/null; wait $api 2>/dev/null || true; rm -rf "$dir"; exit $status' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
node "$dir/out/client.js" "http://127.0.0.1:$port"

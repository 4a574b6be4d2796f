#!/usr/bin/env bash
# The official QingCloud Python SDK against `serve` (SPEC §11): makes a
# virtual environment with qingcloud-sdk from the package index (once, in
# target/sdk-venv), starts `serve` on a free loopback port with the test
# keys and jobs, runs serve/tests/sdk_client.py, and stops the server.
# Fails with a message when Python or the package index cannot be used;
# it never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/sdk-venv
if ! command -v python3 >/dev/null 2>&1; then
  echo "sdk: python3 is not installed; install it (apt-get install -y python3 python3-venv) to run the SDK test" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import qingcloud.iaas' 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian keeps venv's pip apart: install it when we may.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      { apt-get update && apt-get install -y python3-venv; } >/dev/null 2>&1 || true
    fi
    rm -rf "$venv"
    if ! python3 -m venv "$venv"; then
      echo "sdk: cannot make a Python virtual environment (apt-get install -y python3-venv)" >&2
      exit 1
    fi
  fi
  # The SDK version whose signatures tests/signature.rs holds the library to.
  if ! "$venv/bin/pip" install --quiet qingcloud-sdk==1.2.16; then
    echo "sdk: cannot install qingcloud-sdk from the package index (is it reachable?)" >&2
    exit 1
  fi
fi

cargo build --quiet -p joblog-serve --bin serve
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
out=$(mktemp)
"$target/debug/serve" --listen 127.0.0.1:0 \
  --keys serve/tests/fixtures/keys.jsonl --jobs serve/tests/fixtures/jobs.jsonl >"$out" 2>&1 &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$out"' EXIT
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/iaas/$|\1|p' "$out")
  [ -n "$port" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "sdk: serve exited before listening:" >&2
    cat "$out" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "sdk: serve did not say where it listens within 10 s" >&2
  exit 1
fi
"$venv/bin/python" serve/tests/sdk_client.py "$port" serve/tests/fixtures/jobs.jsonl

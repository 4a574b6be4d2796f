#!/usr/bin/env bash
# The cluster test (SPEC §12): a NATS JetStream server, one writer and
# replicas, as processes on loopback (serve/tests/cluster.rs). Installs
# Debian's nats-server when it is missing and this is root with apt-get;
# fails with a message when it cannot. It never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cluster: installing nats-server (apt-get install -y nats-server)" >&2
    if ! { apt-get install -y nats-server >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y nats-server >/dev/null 2>&1; }; }; then
      echo "cluster: cannot install nats-server with apt-get (is Debian's package index reachable?)" >&2
      exit 1
    fi
  else
    echo "cluster: nats-server is not installed; install it (as root: apt-get install -y nats-server) to run the cluster test" >&2
    exit 1
  fi
fi
if ! nats-server --version >/dev/null 2>&1; then
  echo "cluster: nats-server is installed but does not run" >&2
  exit 1
fi
cargo test -p joblog-serve --features nats-tests --test cluster

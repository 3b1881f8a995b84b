#!/usr/bin/env bash
# The local scaled stack (no Docker, no GPU): N WhisperLive replicas behind nginx, with the exporters,
# Prometheus and Alertmanager.
#   scripts/local_stack.sh up --replicas 3 --model tiny.en --max-clients 4 --omp-threads 1
#   scripts/local_stack.sh up --backend simulator --base-lag 0.3 --capacity 4   # no model: loadgen simulate
#   scripts/local_stack.sh status
#   scripts/local_stack.sh down
# Ports are in docs/PORTS.md; `--base-port P` moves them all. See `scripts/local_stack.sh up --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 || ! $1 =~ ^(up|down|status)$ ]]; then
  echo "usage: $0 up|down|status [flags] (see: $0 up --help)" >&2
  exit 2
fi
exec python3 -m stack "$@"

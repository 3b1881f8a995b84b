#!/usr/bin/env bash
# The README's main command: start the local stack (3 real WhisperLive tiny.en replicas on CPU behind
# nginx, exporters, Prometheus, Alertmanager; all on 127.0.0.1), run the ramp (adaptive search with the
# cpu profile), print the verdict table and the path of the HTML report, then stop the stack.
#   REPLICAS=3 HOLD=30 WARMUP=10 MAX_CLIENTS=8 scripts/demo.sh [any `loadgen ramp` flag]
#   KEEP_STACK=1 scripts/demo.sh      # leave the stack up afterwards (scripts/local_stack.sh down)
set -euo pipefail
cd "$(dirname "$0")/.."

REPLICAS=${REPLICAS:-3}
STACK_DIR=${STACK_DIR:-runs/stack}
python3 -m test_audio.generate >/dev/null  # the corpus, if it is not there yet

scripts/local_stack.sh up --replicas "$REPLICAS" --model tiny.en --max-clients 4 --omp-threads 1 \
  --run-dir "$STACK_DIR"
if [[ -z ${KEEP_STACK:-} ]]; then
  trap 'scripts/local_stack.sh down --run-dir "$STACK_DIR"' EXIT
fi

scripts/step_load.sh --replicas "$REPLICAS" --hold "${HOLD:-30}" --warmup "${WARMUP:-10}" \
  --max-clients "${MAX_CLIENTS:-8}" "$@"

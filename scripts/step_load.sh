#!/usr/bin/env bash
# Step load: find the max concurrent connections of the stack with `loadgen ramp` (see docs/RAMP.md).
#   scripts/step_load.sh                               # local stack (scripts/local_stack.sh up), adaptive search
#   scripts/step_load.sh --steps 1,2,4,8 --hold 30     # any `loadgen ramp` flag; a flag given here wins
#   scripts/step_load.sh --compose --steps 2,4,8,16    # inside Compose: drives its `loadgen serve`
# Environment (local): PORT (9090), AUDIO_DIR (test_audio/corpus), PROFILE (cpu), PROMETHEUS_URL
# (http://127.0.0.1:9092; empty: none), METRICS_PORT (9094, where Prometheus scrapes the generator; 0: off).
# Environment (--compose): PROFILE (default), CONTROL_URL (http://127.0.0.1:9095 inside the container);
# the run directory is written in the loadgen-results volume and copied to runs/compose-ramp-STAMP.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  echo
  echo "Every other flag goes to 'loadgen ramp':"
}

compose=0
args=()
for arg in "$@"; do
  case "$arg" in
    --compose) compose=1 ;;
    -h | --help)
      usage
      exec python3 -m loadgen ramp --help
      ;;
    *) args+=("$arg") ;;
  esac
done

stamp=$(date +%Y%m%d-%H%M%S)
if ((compose)); then
  status=0
  docker compose exec loadgen loadgen ramp \
    --control "${CONTROL_URL:-http://127.0.0.1:9095}" \
    --prometheus-url "${PROMETHEUS_URL:-http://prometheus:9090}" \
    --profile "${PROFILE:-default}" --run-dir "results/ramp-$stamp" "${args[@]}" || status=$?
  mkdir -p runs
  docker compose cp "loadgen:/app/results/ramp-$stamp" "runs/compose-ramp-$stamp" \
    && echo "step_load.sh: run directory copied to runs/compose-ramp-$stamp"
  exit "$status"
fi

defaults=(--host 127.0.0.1 --port "${PORT:-9090}" --audio-dir "${AUDIO_DIR:-test_audio/corpus}"
  --profile "${PROFILE:-cpu}" --metrics-port "${METRICS_PORT:-9094}" --run-dir "runs/ramp-$stamp")
prometheus=${PROMETHEUS_URL-http://127.0.0.1:9092}
if [[ -n $prometheus ]]; then
  defaults+=(--prometheus-url "$prometheus")
fi
exec python3 -m loadgen ramp "${defaults[@]}" "${args[@]}"

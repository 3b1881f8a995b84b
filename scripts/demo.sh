#!/usr/bin/env bash
# The README's main command: one real WhisperLive replica (tiny.en, CPU) on 127.0.0.1, two live
# clients streaming for about a minute, then the KPI table. Override with environment variables.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-9101}
METRICS_PORT=${METRICS_PORT:-9201}
CLIENTS=${CLIENTS:-2}
DURATION=${DURATION:-60}
MODEL=${MODEL:-tiny.en}
AUDIO_DIR=${AUDIO_DIR:-test_audio/corpus}
RUN_DIR=${RUN_DIR:-runs/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RUN_DIR"

python3 -m whisperlive serve --host 127.0.0.1 --port "$PORT" --metrics-port "$METRICS_PORT" \
  --model "$MODEL" --max-clients 4 >"$RUN_DIR/whisperlive.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
echo "demo: WhisperLive ($MODEL) starting on ws://127.0.0.1:$PORT, log $RUN_DIR/whisperlive.log"
python3 -m whisperlive ready --url "ws://127.0.0.1:$PORT" --timeout 180

python3 -m loadgen run --host 127.0.0.1 --port "$PORT" --num-clients "$CLIENTS" --duration "$DURATION" \
  --audio-dir "$AUDIO_DIR" --model "$MODEL" --output-file "$RUN_DIR/sessions.jsonl"

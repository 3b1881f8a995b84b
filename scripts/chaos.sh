#!/usr/bin/env bash
# Fault injection by hand: kill (SIGKILL), pause (SIGSTOP; SIGCONT after --duration S) or restart one
# WhisperLive replica of the local stack, or of Compose with --compose (Docker SDK).
#   scripts/chaos.sh kill 2                          # local stack in runs/stack
#   scripts/chaos.sh pause 1 --duration 8            # SIGSTOP, 8 s, SIGCONT
#   scripts/chaos.sh restart 3 --compose             # docker restart of whisperlive replica 3
#   scripts/chaos.sh kill 2 --events runs/ramp-1/events.jsonl   # log it into a run directory
# See: scripts/chaos.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 || ! $1 =~ ^(kill|pause|resume|restart|-h|--help)$ ]]; then
  echo "usage: $0 kill|pause|resume|restart REPLICA [--compose] [--duration S] [--events FILE] (see: $0 --help)" >&2
  exit 2
fi
exec python3 -m loadgen chaos "$@"

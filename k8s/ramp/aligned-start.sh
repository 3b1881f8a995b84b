#!/bin/sh
# The ramp Job's start barrier (init container of every shard). `loadgen ramp --align A` starts step 0 at
# the next wall-clock multiple of A seconds after the shard starts; pods that start a few seconds apart
# (scheduling, image pulls) could fall on both sides of a multiple and run a whole step apart. So shard 0
# publishes one step-0 time T (a multiple of A, at least LEAD seconds ahead) in the shared run directory,
# and every shard sleeps until T - A/2 (to the whole second: within the second before it): all main
# containers then start within the same period and `--align A` picks T for each. A shard that is already
# past T - A/2 fails with one line (rerun the Job).
set -eu
: "${RUN_DIR:?}" "${SHARD_INDEX:?}" "${ALIGN:?}"
LEAD="${LEAD:-120}"  # seconds from shard 0's start to step 0: > ALIGN/2 + the spread of the pods' starts
mkdir -p "$RUN_DIR"
published="$RUN_DIR/start-at"
if [ "$SHARD_INDEX" = 0 ] && [ ! -f "$published" ]; then
  now=$(date +%s)
  echo $(( (now + LEAD) / ALIGN * ALIGN + ALIGN )) > "$published.$$"
  mv "$published.$$" "$published"
fi
waited=0
while [ ! -f "$published" ]; do
  if [ "$waited" -ge "$LEAD" ]; then
    echo "shard $SHARD_INDEX: shard 0 published no start time in $RUN_DIR within $LEAD s; rerun the Job" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
start=$(cat "$published")
wake=$(( start - ALIGN / 2 ))
now=$(date +%s)
if [ "$now" -ge $(( wake - 1 )) ]; then
  echo "shard $SHARD_INDEX: started at $now, too late for step 0 at $start (align $ALIGN s); rerun the Job" >&2
  exit 1
fi
echo "shard $SHARD_INDEX: step 0 at $start (unix time); starting the load generator at $wake"
sleep $(( wake - now - 1 ))  # `now` is truncated: wake up within [wake - 1, wake)

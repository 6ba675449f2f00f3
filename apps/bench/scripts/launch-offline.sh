#!/bin/sh
# Launches everything behind apps/bench/results/offline/REPORT.md in the background, resumable:
#   1. diffprune-bench run --preset offline      (our runs: 6 methods x 6 tasks x 3 seeds + the SST-2 density sweep)
#   2. diffprune-bench reference --preset offline (scripts/torch_diffprune.py on SST-2, RTE, STS-B)
#   3. diffprune-bench peers --preset offline     (scripts/peft_peers.py: PEFT LoRA and SHiRA, same tasks)
# each 2 jobs x 1 thread, each writing the report as it ends. Run it again after a stop or a crash:
# finished runs are skipped, a killed run restarts from its last checkpoint (ours) or from scratch
# (the Python scripts). Progress: tail -f apps/bench/results/offline/launch.log
#   sh apps/bench/scripts/launch-offline.sh           # start in the background
#   sh apps/bench/scripts/launch-offline.sh --stop    # stop it (the workers finish their step)
set -eu
cd "$(dirname "$0")/../../.."
out=apps/bench/results/offline
mkdir -p "$out"
if [ "${1:-}" = "--stop" ]; then
  [ -f "$out/launch.pid" ] && kill -INT "-$(cat "$out/launch.pid")" && echo "stopping $(cat "$out/launch.pid")"
  exit 0
fi
if [ -f "$out/launch.pid" ] && kill -0 "$(cat "$out/launch.pid")" 2>/dev/null; then
  echo "already running (pid $(cat "$out/launch.pid")); progress: tail -f $out/launch.log"
  exit 1
fi
bench="npx pnpm --silent diffprune-bench"
tasks=sst2,rte,stsb
setsid sh -c "
  echo \"== \$(date -u +%FT%TZ) start\";
  $bench run --preset offline --jobs 2 --threads 1 --quiet &&
  $bench reference --preset offline --tasks $tasks --jobs 2 --threads 1 &&
  $bench peers --preset offline --tasks $tasks --jobs 2 --threads 1;
  echo \"== \$(date -u +%FT%TZ) end (exit \$?)\"
" >>"$out/launch.log" 2>&1 </dev/null &
echo $! >"$out/launch.pid"
echo "started (pid $!); progress: tail -f $out/launch.log; report: $bench report --preset offline"

#!/bin/sh
# parse_timing.sh SCRATCH cold|warm LABEL
# One timed `bitbake -p` in SCRATCH/build as user bb (via bbenv.sh).
#  - waits until no BitBake server of any work tree runs on the machine
#    (one BitBake at a time on this shared 2-core host);
#  - cold: removes build/tmp* (TMPDIR is tmp-glibc for nodistro) and build/cache first;
#  - cpu_sampler.py around /usr/bin/time -v around `bitbake -p` (wall = /usr/bin/time's);
#  - logs in SCRATCH/logs: time-LABEL.txt, cpu-LABEL.json, parse-LABEL.log,
#    cachefiles-LABEL.txt (the bb_cache.dat.* names after the run), loadavg.
set -e
scratch=$1; mode=$2; label=$3
tools=$(dirname "$(readlink -f "$0")")
logs=$scratch/logs
while pgrep -f bitbake-server >/dev/null; do echo "waiting for other bitbake"; sleep 30; done
if [ "$mode" = cold ]; then
    rm -rf "$scratch"/build/tmp* "$scratch"/build/cache
fi
cat /proc/loadavg > "$logs/loadavg-$label.txt"
"$tools/bbenv.sh" "$scratch" \
    python3 "$tools/cpu_sampler.py" "$scratch/" "$logs/cpu-$label.json" -- \
    /usr/bin/time -v -o "$logs/time-$label.txt" bitbake -p > "$logs/parse-$label.log" 2>&1 || echo "bitbake -p failed (see $logs/parse-$label.log)"
cat /proc/loadavg >> "$logs/loadavg-$label.txt"
(cd "$scratch/build" && find tmp*/cache cache -name "bb_cache.dat*" | sort) > "$logs/cachefiles-$label.txt" 2>/dev/null || true
grep -E "Elapsed|Maximum resident" "$logs/time-$label.txt"
cat "$logs/cpu-$label.json"; echo

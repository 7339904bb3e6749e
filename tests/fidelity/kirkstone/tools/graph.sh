#!/bin/sh
# graph.sh SCRATCH OUTDIR [TARGET]
# `bitbake -g TARGET` (default core-image-minimal) as user bb, run in
# SCRATCH/out/graph (bitbake -g writes task-depends.dot and pn-buildlist to the
# current dir; the build dir is found through BBPATH), timed with /usr/bin/time.
# Then into OUTDIR: task-depends.dot with the oe-core root prefix removed from the
# recipe paths of the node labels (sed, nothing else changed), zstd -19;
# pn-buildlist unchanged; the graph summary (summarize_graph.py).
set -e
scratch=$1; outdir=$2; target=${3:-core-image-minimal}
tools=$(dirname "$(readlink -f "$0")")
runuser -u bb -- mkdir -p "$scratch/out/graph"
"$tools/bbenv.sh" "$scratch" sh -c "cd ../out/graph && /usr/bin/time -f %e -o ../../logs/time-graph.txt bitbake -g $target" \
    > "$scratch/logs/graph.log" 2>&1
secs=$(tail -1 "$scratch/logs/time-graph.txt")
sed "s#$scratch/openembedded-core/##g" "$scratch/out/graph/task-depends.dot" > "$outdir/task-depends.dot"
cp "$scratch/out/graph/pn-buildlist" "$outdir/pn-buildlist"
python3 "$tools/summarize_graph.py" "$outdir/task-depends.dot" "$outdir/pn-buildlist" \
    "$outdir/$target-graph-summary.json" "$target" \
    "bitbake a9f09b9e2f, oe-core 9687b9409d, nodistro, MACHINE qemux86-64" "$secs" > "$outdir/task-graph-summary.md"
zstd -19 -q -f --rm "$outdir/task-depends.dot"

#!/bin/sh
# setup_scratch.sh SCRATCH BITBAKE_GITDIR BITBAKE_COMMIT OECORE_GITDIR OECORE_COMMIT
# Creates the scratch layout used for this reference (run as root; the tree is
# handed to user "bb", who runs BitBake):
#   SCRATCH/bitbake            work tree of BITBAKE_COMMIT (git archive, no .git)
#   SCRATCH/openembedded-core  work tree of OECORE_COMMIT
#   SCRATCH/build              conf/ made by oe-core's own oe-init-build-env (stock
#                              meta/conf/local.conf.sample and bblayers.conf.sample,
#                              ##OEROOT## replaced), then 4 lines appended to local.conf
#   SCRATCH/logs, SCRATCH/out, SCRATCH/tools (copy of this folder)
set -e
scratch=$1; bbgit=$2; bbrev=$3; oegit=$4; oerev=$5
tools=$(dirname "$(readlink -f "$0")")
mkdir -p "$scratch/bitbake" "$scratch/openembedded-core" "$scratch/logs" "$scratch/out" "$scratch/tools"
git --git-dir="$bbgit" archive "$bbrev" | tar -x -C "$scratch/bitbake"
git --git-dir="$oegit" archive "$oerev" | tar -x -C "$scratch/openembedded-core"
cp "$tools"/* "$scratch/tools/"
chown -R bb:bb "$scratch"
# first oe-init-build-env creates build/conf from the templates (TEMPLATECONF=meta/conf)
"$tools/bbenv.sh" "$scratch" true
cmp "$scratch/build/conf/local.conf" "$scratch/openembedded-core/meta/conf/local.conf.sample"
printf '%s\n' 'MACHINE = "qemux86-64"' 'BB_NUMBER_THREADS = "2"' 'BB_NUMBER_PARSE_THREADS = "2"' \
    'BB_NO_NETWORK = "1"' | runuser -u bb -- tee -a "$scratch/build/conf/local.conf" >/dev/null

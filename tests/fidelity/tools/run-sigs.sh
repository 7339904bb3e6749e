#!/bin/bash
# usage: run-sigs.sh <scratch>   (run as bb)
R=$1
cd $R && . openembedded-core/oe-init-build-env build >/dev/null || exit 1
date -u +%FT%TZ > $R/logs/start.txt
/usr/bin/time -v -o $R/logs/time-S-none.txt bitbake -S none zlib busybox glibc base-files core-image-minimal > $R/logs/bitbake-S-none.log 2>&1
rc=$?
date -u +%FT%TZ > $R/logs/end.txt
echo $rc > $R/logs/rc.txt

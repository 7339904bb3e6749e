#!/bin/sh
# bbenv.sh SCRATCH CMD...
# Run CMD as the unprivileged user "bb" (BitBake refuses root) with a clean
# environment, after sourcing oe-core's oe-init-build-env for SCRATCH/build
# (BITBAKEDIR = SCRATCH/bitbake). CMD runs in SCRATCH/build.
# On first use oe-init-build-env creates build/conf/{local,bblayers}.conf from
# meta/conf/*.sample (the stock kirkstone templates).
# (oe-init-build-env is sourced by bash: under dash it cannot find its own location)
scratch=$1; shift
bbhome=$(getent passwd bb | cut -d: -f6)
exec runuser -u bb -- env -i HOME="$bbhome" LANG=en_US.UTF-8 \
    PATH="$scratch/bitbake/bin:/usr/bin:/bin" \
    BITBAKEDIR="$scratch/bitbake" SCRATCH="$scratch" \
    bash -c 'cd "$SCRATCH" && . ./openembedded-core/oe-init-build-env build >/dev/null && exec "$@"' bbenv "$@"

#!/bin/sh
# Regenerate the expected task graphs from BitBake itself.
#
#   tests/layers/graph-expected/regenerate.sh BITBAKE_DIR [USER]
#
# BITBAKE_DIR is a BitBake checkout; BitBake refuses to run as root, so as root
# give an unprivileged USER to run it as. For each scenario of scenarios.txt this
# runs `bitbake -g TARGETS` in a fresh build directory over copies of the
# graph-core and graph-extra layers and keeps task-depends.dot and pn-buildlist,
# with the layers' directory written as LAYERS.
set -eu
bitbake=$(cd "$1" && pwd)
user=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/graph-expected.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$here/../graph-core" "$here/../graph-extra" "$work/"
grep -v '^#' "$here/scenarios.txt" | grep -v '^ *$' | while IFS='|' read -r name targets conf; do
    name=$(echo "$name" | xargs)
    build="$work/build-$name"
    mkdir -p "$build/conf"
    printf 'BBPATH = "${TOPDIR}"\nBBFILES ?= ""\nBBLAYERS = "%s/graph-core %s/graph-extra"\n' "$work" "$work" \
        > "$build/conf/bblayers.conf"
    echo "$conf" | sed 's/^ *//; s/ *$//; s/ ; /\n/g' > "$build/conf/local.conf"
    [ -n "$user" ] && chown -R "$user" "$work"
    cmd="cd '$build' && export LANG=en_US.UTF-8 PATH='$bitbake/bin':\$PATH && bitbake -g $targets >/dev/null"
    if [ -n "$user" ]; then runuser -u "$user" -- sh -c "$cmd"; else sh -c "$cmd"; fi
    sed "s#$work#LAYERS#g" "$build/task-depends.dot" > "$here/$name.dot"
    cp "$build/pn-buildlist" "$here/$name.pn-buildlist"
    echo "$name: $(grep -c label "$here/$name.dot") tasks"
done

# Sourced by the scripts, from the checkout's root: a stable cargo target directory
# outside the checkout (so later builds are incremental) and the system Python for the
# embedded interpreter.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rstore/target}"
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"
# Cargo reuses a test binary built in another clone at another path when the sources
# are the same, and insta's snapshot macros locate the snapshots from the path compiled
# in: this makes them use this checkout's.
export INSTA_WORKSPACE_ROOT="$PWD"

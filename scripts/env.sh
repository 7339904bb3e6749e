# Sourced by the scripts: a stable cargo target directory outside the checkout (so
# later builds are incremental) and the system Python for the embedded interpreter.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rstore/target}"
export PYO3_PYTHON="${PYO3_PYTHON:-/usr/bin/python3}"

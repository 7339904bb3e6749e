# bb.fatal in an anonymous Python function.
LICENSE = "MIT"

python () {
    bb.fatal("fail-bb-fatal: stopped on purpose")
}

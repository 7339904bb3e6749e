# An anonymous Python function is never closed.
LICENSE = "MIT"

python () {
    d.setVar("A", "1")

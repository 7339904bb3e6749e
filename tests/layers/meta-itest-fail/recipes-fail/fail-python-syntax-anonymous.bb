# A syntax error in an anonymous Python function.
LICENSE = "MIT"

python () {
    if True
        d.setVar("A", "1")
}

# An exception in an anonymous Python function.
LICENSE = "MIT"

python () {
    words = d.getVar("NOT_SET_ANYWHERE").split()
}

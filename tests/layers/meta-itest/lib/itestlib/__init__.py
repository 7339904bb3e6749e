"""The test layer's Python library (addpylib in conf/layer.conf)."""

BBIMPORTS = ["helpers"]


def greeting(d):
    return "hello from itestlib for " + d.getVar("PN")

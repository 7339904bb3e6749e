# A syntax error in a def function.
LICENSE = "MIT"

def broken(d):
    value = (1 +
    return value

FOO = "after"

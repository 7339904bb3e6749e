# The file ends inside a line continuation.
LICENSE = "MIT"
FOO = "a \

# A comment inside a multi-line value.
LICENSE = "MIT"
FOO = "a \
# comment
  b"

# A variable that references itself.
LICENSE = "MIT"
FOO = "x ${FOO}"
BAR := "${FOO}"

# The old override syntax (_append) is an error.
LICENSE = "MIT"
DEPENDS = "a"
DEPENDS_append = " b"

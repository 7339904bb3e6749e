# The function is never closed.
LICENSE = "MIT"

do_compile() {
	echo "no closing brace"

DESCRIPTION = "swallowed by the function"

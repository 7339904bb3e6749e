SUMMARY = "Records the day it was built (unreproducible: time)"
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_compile() {
	date -u +%Y-%m-%d > built-on
}

SUMMARY = "Records the running kernel's version (unreproducible: kernel)"
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_compile() {
	uname -r > kernel
}

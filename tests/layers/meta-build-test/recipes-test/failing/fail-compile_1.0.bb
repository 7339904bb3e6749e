SUMMARY = "A recipe whose compile step fails"
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

do_compile() {
	echo "fail-compile: looking for the frobnicator"
	bbfatal "fail-compile: the frobnicator is missing"
}

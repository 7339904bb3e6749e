SUMMARY = "A recipe whose compile step sleeps (cancellation and keep-going tests)"
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

SLEEPER_SECONDS ?= "2"

do_compile() {
	echo "sleeper: sleeping ${SLEEPER_SECONDS}s"
	sleep ${SLEEPER_SECONDS}
	echo "slept ${SLEEPER_SECONDS}s" > slept.txt
}

do_install() {
	install -d ${D}${datadir}/sleeper
	install -m 0644 slept.txt ${D}${datadir}/sleeper/slept.txt
}

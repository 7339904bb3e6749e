SUMMARY = "A shell task that asks for the host network"
DESCRIPTION = "For the escape tests: only fetch tasks get the network; this one is \
refused unless RSTORE_ALLOW_NETWORK names it."
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

do_compile[network] = "1"
do_compile() {
	# /proc/net/dev: two header lines, then one line per interface of the namespace.
	if [ "$(wc -l < /proc/net/dev)" -gt 3 ]; then
		echo "network: host"
	else
		echo "network: loopback only"
	fi
}

SUMMARY = "Prints what a task can see of the machine it runs on"
DESCRIPTION = "For the escape tests: the CPU count, the system-call filter and the \
uptime a task sees under rstore build, whether its mounts show the host's scratch \
directories, and whether it can flood its log."
LICENSE = "CLOSED"

B = "${WORKDIR}/build"

PROBE_FLOOD ?= "0"

do_compile() {
	echo "nproc: $(nproc)"
	echo "seccomp: $(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)"
	echo "uptime: $(cut -d. -f1 /proc/uptime)"
	echo "scratch mounts: $(grep -c rstore-scratch /proc/self/mountinfo)"
	if [ "${PROBE_FLOOD}" = "1" ]; then
		yes "flooding the log" | head -c 4194304
	fi
}

SUMMARY = "Records how many CPUs it could use (unreproducible: cpu-count)"
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_compile() {
	echo "jobs: $(nproc)" > jobs
}

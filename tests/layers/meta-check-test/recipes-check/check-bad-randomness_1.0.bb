SUMMARY = "Records a random token (unreproducible: randomness)"
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_compile() {
	od -An -N16 -tx1 /dev/urandom > token
}

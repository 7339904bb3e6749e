SUMMARY = "Joins files in the order the directory lists them (unreproducible: file-order)"
LICENSE = "CLOSED"
B = "${WORKDIR}/build"

do_configure() {
	mkdir -p parts
	for part in one two three four five six seven eight; do
		echo "$part" > parts/$part
	done
}

do_compile() {
	# find lists a directory in the order the file system gives (no sorting).
	find parts -type f -exec cat {} + > joined
}

SUMMARY = "First recipe of a two-recipe chain (hash equivalence tests)"
DESCRIPTION = "Copies a source file and one variable into a header-like data \
file that chain-b reads through its recipe sysroot."
LICENSE = "CLOSED"

SRC_URI = "file://chain-a.txt"

S = "${UNPACKDIR}"
B = "${WORKDIR}/build"

# Written into the output: changing it changes what chain-b sees.
CHAIN_VALUE ?= "one"
# Only echoed into the task log: changing it changes do_compile's hash, not
# its output.
CHAIN_NOTE ?= "first note"

do_compile() {
	echo "chain-a compiling: ${CHAIN_NOTE}"
	echo "chain-a: a line on stderr" >&2
	cat ${S}/chain-a.txt > value.txt
	echo "value: ${CHAIN_VALUE}" >> value.txt
}

do_install() {
	install -d ${D}${includedir}/chain-a
	install -m 0644 value.txt ${D}${includedir}/chain-a/value.txt
}

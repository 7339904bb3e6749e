SUMMARY = "Second recipe of a two-recipe chain (hash equivalence tests)"
DESCRIPTION = "Builds from what chain-a staged: its do_compile reruns only \
when chain-a's staged output changes."
LICENSE = "CLOSED"

DEPENDS = "chain-a"

B = "${WORKDIR}/build"

do_compile() {
	echo "chain-b compiling"
	sed 's/^/chain-b saw: /' ${RECIPE_SYSROOT}${includedir}/chain-a/value.txt > result.txt
}

do_install() {
	install -d ${D}${datadir}/chain-b
	install -m 0644 result.txt ${D}${datadir}/chain-b/result.txt
}

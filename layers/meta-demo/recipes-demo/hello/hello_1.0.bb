SUMMARY = "Hello world, built from a source file kept in the layer"
DESCRIPTION = "The example program of rstore's meta-demo layer: one C file \
fetched with file://, compiled with the host compiler and packaged."
SECTION = "examples"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://hello.c;beginline=4;endline=23;md5=d82c3b077c4ea41f7d3ed3bf6e03052f"

SRC_URI = "file://hello.c"

S = "${UNPACKDIR}"
B = "${WORKDIR}/build"

# Linked statically: the demo image ships no C library.
LDFLAGS:append = " -static"

do_compile() {
	${CC} ${CPPFLAGS} ${CFLAGS} ${LDFLAGS} -o hello ${S}/hello.c
}

do_install() {
	install -d ${D}${bindir}
	install -m 0755 hello ${D}${bindir}/hello
}

# make.bbclass: projects with a plain Makefile (no configure step).
#
# Builds inside the sources (B = S) and passes the toolchain and flags on
# the make command line, because such Makefiles usually assign CC and
# CFLAGS themselves. Recipes add variables in EXTRA_OEMAKE and usually
# write their own do_install when the project's install rule does not
# honour DESTDIR.

B = "${S}"
EXTRA_OEMAKE = "'CC=${CC}' 'AR=${AR}' 'RANLIB=${RANLIB}' \
                'CFLAGS=${CPPFLAGS} ${CFLAGS}' 'LDFLAGS=${LDFLAGS}'"

make_do_compile() {
	oe_runmake
}

make_do_install() {
	oe_runmake 'DESTDIR=${D}' 'PREFIX=${prefix}' install
}

EXPORT_FUNCTIONS do_compile do_install

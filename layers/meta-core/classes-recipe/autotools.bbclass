# autotools.bbclass: projects built with a GNU configure script.
#
# Runs the configure script the release tarball ships (no autoreconf), in
# a separate build directory ${B}, with the standard directory options
# derived from the install paths in bitbake.conf; then make and
# make DESTDIR=${D} install. Recipes add their own options in EXTRA_OECONF.

EXTRA_OECONF ?= ""
B = "${WORKDIR}/build"

CONFIGUREOPTS = " \
    --build=${BUILD_SYS} \
    --host=${HOST_SYS} \
    --target=${TARGET_SYS} \
    --prefix=${prefix} \
    --exec_prefix=${exec_prefix} \
    --bindir=${bindir} \
    --sbindir=${sbindir} \
    --libexecdir=${libexecdir} \
    --datadir=${datadir} \
    --sysconfdir=${sysconfdir} \
    --localstatedir=${localstatedir} \
    --libdir=${libdir} \
    --includedir=${includedir} \
    --mandir=${mandir} \
    --infodir=${infodir} \
    --docdir=${docdir} \
    --disable-silent-rules \
    --disable-dependency-tracking \
"

# Start every configure from an empty build directory, unless the recipe
# builds inside its sources.
do_configure[cleandirs] = "${@d.getVar('B') if d.getVar('B') != d.getVar('S') else ''}"

autotools_do_configure() {
	if [ ! -x "${S}/configure" ]; then
		bbfatal "${S}/configure is missing: autotools.bbclass needs a release tarball with a generated configure script"
	fi
	bbnote "Running ${S}/configure ${CONFIGUREOPTS} ${EXTRA_OECONF} $*"
	"${S}/configure" ${CONFIGUREOPTS} ${EXTRA_OECONF} "$@" || {
		cat config.log >&2 2>/dev/null || true
		bbfatal "configure failed (config.log is in ${B})"
	}
	# config.log describes the machine configure ran on: the kernel's release and
	# version are the host's, so the output would differ from machine to machine.
	sed -i -e 's/^\(uname -[rv] = \).*/\1(host-specific, left out)/' config.log
}

autotools_do_compile() {
	oe_runmake
}

autotools_do_install() {
	oe_runmake 'DESTDIR=${D}' install
	# libtool archives record build paths and are not needed to link.
	find "${D}" -name '*.la' -type f -delete
}

EXPORT_FUNCTIONS do_configure do_compile do_install

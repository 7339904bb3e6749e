SUMMARY = "Tiny versions of many common UNIX utilities in a single executable"
DESCRIPTION = "BusyBox combines tiny versions of many common UNIX utilities \
into a single small executable: a shell, core file and text tools, \
archivers, init and basic networking."
HOMEPAGE = "https://www.busybox.net/"
SECTION = "base"
# BusyBox is GPL-2.0-only; its bzip2 decompressor keeps bzip2's license.
LICENSE = "GPL-2.0-only AND bzip2-1.0.4"
LIC_FILES_CHKSUM = "file://LICENSE;md5=de10de48642ab74318e893a61105afbb \
                    file://archival/libarchive/bz/LICENSE;md5=28e3301eae987e8cfe19988e98383dae"

# Debian's busybox_1.37.0.orig.tar.bz2 is this release file, byte for byte.
SRC_URI = "https://busybox.net/downloads/${BP}.tar.bz2 \
           file://defconfig \
           file://0001-tc-build-without-CBQ-definitions.patch \
           "
SRC_URI[sha256sum] = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
DEBIAN_SOURCE_PACKAGE = "busybox"

# Configuration fragments: every *.cfg file in SRC_URI (a .bbappend adds
# its own), applied in SRC_URI order after defconfig.
def busybox_config_fragments(d):
    import os
    fragments = []
    for entry in (d.getVar('SRC_URI') or '').split():
        location = entry.split(';')[0]
        if location.startswith('file://') and location.endswith('.cfg'):
            fragments.append(os.path.join(d.getVar('UNPACKDIR'), location[len('file://'):]))
    return ' '.join(fragments)

BUSYBOX_REQUESTS = "${WORKDIR}/busybox.requests"

# BusyBox's Kbuild takes CFLAGS, CPPFLAGS and LDFLAGS from the environment.
EXTRA_OEMAKE = "'CC=${CC}' 'HOSTCC=${BUILD_CC}' V=1"

do_configure() {
	# What defconfig and the fragments ask for; a later line about the same
	# option replaces an earlier one.
	cat ${UNPACKDIR}/defconfig ${@busybox_config_fragments(d)} | awk '
		/^CONFIG_[A-Za-z0-9_]*=/ { key = substr($0, 1, index($0, "=") - 1) }
		/^# CONFIG_[A-Za-z0-9_]* is not set$/ { key = $2 }
		key != "" { if (!(key in line)) order[++n] = key; line[key] = $0; key = "" }
		END { for (i = 1; i <= n; i++) print line[order[i]] }' > ${BUSYBOX_REQUESTS}

	# Every option off, then exactly the requested ones on; oldconfig adds
	# what they select.
	oe_runmake allnoconfig
	for opt in $(sed -e 's/^# //' -e 's/[= ].*//' ${BUSYBOX_REQUESTS}); do
		sed -i -e "/^$opt=/d" -e "/^# $opt is not set\$/d" .config
	done
	cat ${BUSYBOX_REQUESTS} >> .config
	yes '' | oe_runmake oldconfig

	# Kconfig silently drops options that do not exist or whose
	# dependencies are off: check that every request was honoured.
	lost=""
	while read -r want; do
		case "$want" in
		"# "*)
			opt=$(echo "$want" | sed -e 's/^# //' -e 's/ .*//')
			if grep -q "^$opt=" .config; then lost="$lost $opt=n"; fi
			;;
		*)
			grep -qxF -e "$want" .config || lost="$lost $want"
			;;
		esac
	done < ${BUSYBOX_REQUESTS}
	if [ -n "$lost" ]; then
		bbfatal "these busybox options could not be set (unknown, or a dependency is off):$lost"
	fi
}

do_compile() {
	oe_runmake busybox
}

do_install() {
	oe_runmake CONFIG_PREFIX=${D} install
}

SUMMARY = "The base of an rstore system"
DESCRIPTION = "BusyBox (shell and core utilities) and the compression \
libraries (zlib, libbz2, liblzma, libzstd)."
LICENSE = "MIT"

inherit packagegroup

RDEPENDS:${PN} = "busybox zlib libbz2 liblzma libzstd"

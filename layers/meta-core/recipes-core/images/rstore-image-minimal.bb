SUMMARY = "A minimal rstore root filesystem"
DESCRIPTION = "A root filesystem with a statically linked BusyBox as shell \
and core utilities, and the compression libraries."
LICENSE = "MIT"

inherit image

IMAGE_INSTALL = "packagegroup-rstore-base"

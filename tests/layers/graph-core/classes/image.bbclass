# An image: its packages (IMAGE_INSTALL) are run-time dependencies; do_rootfs
# waits for every package it reaches, recursively, to be written, including
# those of the build dependencies do_prepare_recipe_sysroot would stage (through
# [recideptask], although do_rootfs does not wait for that task itself).
PACKAGES = ""
RDEPENDS = "${IMAGE_INSTALL}"
deltask do_package
deltask do_packagedata
deltask do_package_write
deltask do_populate_sysroot

do_rootfs() {
	:
}
addtask rootfs after do_fetch
do_rootfs[recrdeptask] = "do_package_write"
do_rootfs[recideptask] = "do_prepare_recipe_sysroot"
do_rootfs[depends] = "rootfs-tools-native:do_populate_sysroot"

do_image() {
	:
}
addtask image after do_rootfs before do_build
do_image[nostamp] = "1"

SUMMARY = "An image of app"
inherit image
IMAGE_INSTALL = "app"
DEPENDS = "extra-data"
do_rootfs[rdepends] += "runtime-helper:do_package_write"

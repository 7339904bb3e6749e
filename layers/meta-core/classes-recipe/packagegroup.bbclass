# packagegroup.bbclass: a package that only pulls in others.
#
# A packagegroup recipe writes one empty package, ${PN}, whose
# RDEPENDS:${PN} lists the packages the group stands for; images install
# the group by name. It builds nothing, so it has no source tasks and is
# the same for every machine (PACKAGE_ARCH "all").

PACKAGE_ARCH = "all"
PACKAGES = "${PN}"
ALLOW_EMPTY:${PN} = "1"
LICENSE ?= "MIT"

deltask do_fetch do_unpack do_patch do_prepare_recipe_sysroot do_configure
deltask do_compile do_install do_populate_sysroot do_populate_lic

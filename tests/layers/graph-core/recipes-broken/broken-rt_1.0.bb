SUMMARY = "Needs a package no recipe makes"
RDEPENDS:${PN} = "no-such-package"

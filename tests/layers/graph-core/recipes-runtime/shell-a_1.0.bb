SUMMARY = "A shell"
RPROVIDES:${PN} = "virtual-shell"

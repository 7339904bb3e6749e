SUMMARY = "Another shell"
RPROVIDES:${PN} = "virtual-shell"

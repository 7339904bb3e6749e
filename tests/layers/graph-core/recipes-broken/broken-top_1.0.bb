SUMMARY = "Needs broken-mid at run time"
RDEPENDS:${PN} = "broken-mid"

SUMMARY = "Provides runtime-helper at run time only"
RPROVIDES:${PN} = "runtime-helper"

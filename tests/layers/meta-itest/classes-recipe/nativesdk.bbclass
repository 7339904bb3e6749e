# BBCLASSEXTEND = "nativesdk": the nativesdk-<name> variant.
CLASSOVERRIDE = "class-nativesdk"
MACHINEOVERRIDES = ""
PN := "nativesdk-${@d.getVar('PN').replace('-nativesdk', '')}"

# BBCLASSEXTEND = "native": the <name>-native variant.
CLASSOVERRIDE = "class-native"
MACHINEOVERRIDES = ""
NATIVE_CLASS = "yes"

python () {
    deps = (d.getVar('DEPENDS') or '').split()
    d.setVar('DEPENDS', ' '.join(x if x.endswith('-native') else x + '-native' for x in deps))
}

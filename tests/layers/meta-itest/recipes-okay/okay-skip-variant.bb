# Only the native variant is skipped.
LICENSE = "MIT"
BBCLASSEXTEND = "native nativesdk"

python () {
    if d.getVar('CLASSOVERRIDE') == 'class-native':
        raise bb.parse.SkipRecipe("no native variant of %s" % d.getVar('PN'))
}

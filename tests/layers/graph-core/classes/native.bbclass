# BBCLASSEXTEND = "native": a variant built for the build machine. Its build
# dependencies are the -native variants; it is not packaged.
CLASSOVERRIDE = "class-native"
PACKAGES = ""
deltask do_package
deltask do_packagedata
deltask do_package_write

python () {
    for var in ('DEPENDS', 'PROVIDES'):
        names = (d.getVar(var) or '').split()
        d.setVar(var, ' '.join(n if n.endswith('-native') else n + '-native' for n in names))
    d.setVar('RDEPENDS', '')
}

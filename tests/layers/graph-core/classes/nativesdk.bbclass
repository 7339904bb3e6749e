# BBCLASSEXTEND = "nativesdk": a variant for the SDK host, named nativesdk-<pn>.
CLASSOVERRIDE = "class-nativesdk"

python nativesdk_rename () {
    pn = e.data.getVar("PN")
    if not pn.endswith("-nativesdk"):
        return
    e.data.setVar("PN", "nativesdk-" + pn[:-len("-nativesdk")])
}
addhandler nativesdk_rename
nativesdk_rename[eventmask] = "bb.event.RecipePreFinalise"

python () {
    def sdk(n):
        if n.endswith('-native') or n.startswith('nativesdk-'):
            return n
        if n.startswith('virtual/'):
            return 'virtual/nativesdk-' + n[len('virtual/'):]
        return 'nativesdk-' + n
    for var in ('DEPENDS', 'PROVIDES'):
        d.setVar(var, ' '.join(sdk(n) for n in (d.getVar(var) or '').split()))
    pn = d.getVar('PN')
    d.setVar('PACKAGES', pn + '-dev ' + pn)
    d.setVar('RDEPENDS:' + pn + '-dev', pn)
}

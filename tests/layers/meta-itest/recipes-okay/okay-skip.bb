# bb.parse.SkipRecipe from an anonymous function skips the recipe, with its
# reason.
LICENSE = "MIT"

python () {
    raise bb.parse.SkipRecipe("skipped by okay-skip: %s" % d.getVar('PN'))
}

# Never parsed: it needs a layer with the collection "absent".
LICENSE = "MIT"
python () {
    bb.fatal("a recipe of an absent dynamic layer was parsed")
}

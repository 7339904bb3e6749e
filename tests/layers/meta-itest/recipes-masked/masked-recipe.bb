# BBMASK in local.conf masks this directory: this file is never parsed.
LICENSE = "MIT"
python () {
    bb.fatal("a masked recipe was parsed")
}

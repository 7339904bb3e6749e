# unifdef 2.12 is not served here (Debian's .tar.gz of it answers 404): the nearest release Debian serves, 2.10, as its orig tarball.
PV = "2.10"
SRC_URI:remove = "http://dotat.at/prog/${BPN}/${BP}.tar.xz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/u/unifdef/unifdef_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "1375528c8983de06bbf074b6cfa60fcf0257ea8efcbaec0953b744d2e3dcc5dd"
# 2.10's COPYING and unifdef.c header differ from 2.12's.
LIC_FILES_CHKSUM = "file://COPYING;md5=4da83e7128fb3e762bd4678e7e2f358d \
                    file://unifdef.c;endline=32;md5=2cc23f0382a6f560f6a9ecf4e040c0da"

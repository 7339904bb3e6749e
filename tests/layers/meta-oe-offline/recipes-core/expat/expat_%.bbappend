# expat 2.8.3's upstream .tar.bz2 is not served here: the same version as Debian's orig tarball, a snapshot of the R_2_8_3 git tag (the sources are in its expat/ directory).
SRC_URI:remove = "${GITHUB_BASE_URI}/download/R_${VERSION_TAG}/expat-${PV}.tar.bz2"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/e/expat/expat_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "533659a16e0184035a99fd8e783f1ad61a887a7bf8586a8681740b9d7ed42389"
S = "${UNPACKDIR}/libexpat-R_${VERSION_TAG}/expat"

# pcre2 10.47 is in no Debian release: the nearest release Debian serves, 10.48, as its orig tarball (10.46 is as near but lacks deps/sljit/LICENSE).
PV = "10.48"
SRC_URI:remove = "${GITHUB_BASE_URI}/download/pcre2-${PV}/pcre2-${PV}.tar.bz2"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/pcre2/pcre2_${PV}.orig.tar.gz "
SRC_URI[sha256sum] = "ebcc25aadf2a51fa1fefa9b8bc9e7a79b3dae86870a0f1152a22e42befd46888"

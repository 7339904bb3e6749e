# automake 1.18.1 is in no Debian release: the nearest release Debian serves, 1.17, as the signed upstream .tar.xz it carries.
PV = "1.17"
SRC_URI:remove = "${GNU_MIRROR}/automake/automake-${PV}.tar.gz"
SRC_URI:prepend = "${GNU_MIRROR}/automake/automake-${PV}.tar.xz "
SRC_URI[sha256sum] = "8920c1fc411e13b90bf704ef9db6f29d540e76d232cb3b2c9f4dc4cc599bd990"
# 1.17's configure refuses a Perl path with a space ("/usr/bin/env perl", which 1.18 accepts): the host's perl by its path, as for target builds.
PERL:class-native = "${USRBINPATH}/perl"

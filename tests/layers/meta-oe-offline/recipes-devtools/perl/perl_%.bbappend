# perl 5.44.0 is not served here (Debian's experimental files answer 404): the nearest release Debian serves, 5.42.3, as its orig tarball.
PV = "5.42.3"
SRC_URI:remove = "https://www.cpan.org/src/5.0/perl-${PV}.tar.gz;name=perl"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/p/perl/perl_${PV}.orig.tar.xz;name=perl "
SRC_URI[perl.sha256sum] = "c9387e1473a1866935cb047ece7c2e0a80767a3acdecb79d4a375f8a95970ddc"

# nettle 4.0 is not served here (Debian lists nettle4 4.0 but its pool answers 404): the nearest release Debian serves, 3.10.2, upstream's signed tarball.
PV = "3.10.2"
SRC_URI[sha256sum] = "fe9ff51cb1f2abb5e65a6b8c10a92da0ab5ab6eaf26e7fc2b675c45f1fb519b5"
# 3.10.2's COPYING.LESSERv3 is the LGPL-3.0 text in other bytes than 4.0's.
LIC_FILES_CHKSUM = "file://COPYING.LESSERv3;md5=6a6a8e020838b23406c81b19c1d46df6 \
                    file://COPYINGv2;md5=b234ee4d69f5fce4486a80fdaf4a4263 \
                    file://serpent-decrypt.c;beginline=14;endline=36;md5=ca0d220bc413e1842ecc507690ce416e \
                    file://serpent-set-key.c;beginline=14;endline=36;md5=ca0d220bc413e1842ecc507690ce416e"

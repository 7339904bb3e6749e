# json-c 0.19 is not served here (Debian's repack of it answers 404): the nearest release Debian serves, 0.18, as Debian repacks it (+ds, a snapshot of the json-c-0.18-20240915 tag).
PV = "0.18"
SRC_URI:remove = "https://s3.amazonaws.com/json-c_releases/releases/${BP}.tar.gz"
SRC_URI:prepend = "${DEBIAN_ARCHIVE}/pool/main/j/json-c/json-c_${PV}+ds.orig.tar.xz "
SRC_URI[sha256sum] = "f6439962c9622c1f9f4746d5b3daf5e0800c335281b048fab00159f2a29d7daa"
S = "${UNPACKDIR}/json-c-json-c-0.18-20240915"

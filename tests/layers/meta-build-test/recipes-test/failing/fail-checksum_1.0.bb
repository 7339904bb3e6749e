SUMMARY = "A recipe whose download does not match SRC_URI[sha256sum]"
LICENSE = "CLOSED"

# Nothing serves this host: the file comes from the mirror directory the test
# names in SOURCE_MIRROR_URL, with other contents than the checksum says.
SRC_URI = "https://downloads.rstore.invalid/fixture/checksum-1.0.tar.gz"
SRC_URI[sha256sum] = "0000000000000000000000000000000000000000000000000000000000000001"

SUMMARY = "A recipe whose source is in no mirror (and the network is off)"
LICENSE = "CLOSED"

SRC_URI = "https://downloads.rstore.invalid/fixture/absent-1.0.tar.gz"
SRC_URI[sha256sum] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

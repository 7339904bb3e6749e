# inherit of a class that does not exist.
LICENSE = "MIT"
inherit does_not_exist

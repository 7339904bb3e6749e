# Parsed because no layer has the collection "absent" (!absent in BBFILES_DYNAMIC).
LICENSE = "MIT"
DYNAMIC = "absent is not enabled"

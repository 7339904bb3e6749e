# Parsed because the itest collection is enabled (BBFILES_DYNAMIC).
LICENSE = "MIT"
DYNAMIC = "itest is enabled"

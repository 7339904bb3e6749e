# The closing quote is missing.
LICENSE = "MIT"
SUMMARY = "no closing quote
DESCRIPTION = "fine"

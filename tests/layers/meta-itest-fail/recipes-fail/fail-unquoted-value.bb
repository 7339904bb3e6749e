# A value without quotes.
LICENSE = "MIT"
FOO = bar

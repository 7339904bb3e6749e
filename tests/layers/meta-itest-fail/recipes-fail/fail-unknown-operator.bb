# != is not an assignment operator.
LICENSE = "MIT"
FOO != "bar"

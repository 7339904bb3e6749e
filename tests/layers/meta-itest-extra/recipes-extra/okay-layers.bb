# Layer bookkeeping as a recipe of meta-itest-extra sees it.
LICENSE = "MIT"

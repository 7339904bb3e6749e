# inherit_defer of a class that does not exist fails when the recipe is finalised.
LICENSE = "MIT"
inherit_defer does_not_exist_deferred

# A class that inherits another class and runs an anonymous function for every
# recipe that inherits it.
inherit itest_inner
OUTER_CLASS = "outer"
OUTER_SAW_INNER := "${INNER_CLASS}"

python __anonymous () {
    d.setVar('OUTER_ANON', 'outer anonymous ran for ' + d.getVar('PN'))
}

# d.setVarFilter: a filter expression applied whenever the variable is read.
LICENSE = "MIT"

FILTERED_SORT = "c a b"
FILTERED_SORT:append = " 0"
FILTERED_SUFFIX = "x y"
FILTERED_REMOVE = "keep drop keep2"
UNFILTERED = "c a b"

python () {
    d.setVarFilter('FILTERED_SORT', 'sort(val)')
    d.setVarFilter('FILTERED_SUFFIX', 'suffix(val, "-dev")')
    d.setVarFilter('FILTERED_REMOVE', 'remove(val, "drop")')
    d.setVarFilter('UNFILTERED', 'sort(val)')
    d.setVarFilter('UNFILTERED', None)
}

INNER_CLASS = "inner"
INNER_COUNT .= "x"

APPEND_ORDER += "itest-exact"

APPEND_ORDER += "extra-1.x"

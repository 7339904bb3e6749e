SUMMARY = "A library that a layer of higher priority also has (older)"

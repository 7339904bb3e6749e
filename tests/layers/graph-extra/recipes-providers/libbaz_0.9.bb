SUMMARY = "An older libbaz, chosen for this layer's priority"

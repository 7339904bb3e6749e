SUMMARY = "Tools images are assembled with"
BBCLASSEXTEND = "native"

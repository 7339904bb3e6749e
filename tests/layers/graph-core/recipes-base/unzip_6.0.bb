SUMMARY = "A tool other recipes unpack with"
BBCLASSEXTEND = "native"

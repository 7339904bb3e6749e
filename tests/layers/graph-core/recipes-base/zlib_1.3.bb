SUMMARY = "A compression library, also built for the build machine and the SDK"
BBCLASSEXTEND = "native nativesdk"

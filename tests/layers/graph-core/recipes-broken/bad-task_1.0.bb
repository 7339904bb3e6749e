SUMMARY = "A [depends] entry naming a task the provider does not have"
do_compile[depends] = "zlib-native:do_nonexistent"

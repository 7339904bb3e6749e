SUMMARY = "One implementation of virtual/libfoo"
PROVIDES = "virtual/libfoo"

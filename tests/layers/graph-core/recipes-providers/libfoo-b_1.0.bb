SUMMARY = "Another implementation of virtual/libfoo"
PROVIDES = "virtual/libfoo"

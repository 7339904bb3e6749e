SUMMARY = "A library in several versions; this one only when asked for"
DEFAULT_PREFERENCE = "-1"

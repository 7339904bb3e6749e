SUMMARY = "A library in several versions"

SUMMARY = "Data an image needs at build time only"

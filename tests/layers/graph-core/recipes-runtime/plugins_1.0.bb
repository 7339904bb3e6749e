SUMMARY = "Packages made while packaging: app-plugin-<name>"
PACKAGES_DYNAMIC = "^app-plugin-.*"

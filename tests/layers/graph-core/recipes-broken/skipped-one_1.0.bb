SUMMARY = "Never buildable here"
PROVIDES = "virtual/skipped"

python () {
    raise bb.parse.SkipRecipe("needs a machine feature this configuration lacks")
}

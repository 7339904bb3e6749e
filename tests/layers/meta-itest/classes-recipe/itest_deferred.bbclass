# Inherited with inherit_defer: evaluated when the recipe is finalised, so it
# sees values the recipe sets after the inherit_defer line.
DEFERRED_SAW := "${LATE_VALUE}"

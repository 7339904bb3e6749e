# Event handlers: one of base.bbclass and one of this recipe run before the
# recipe is finalised (they see and change its variables), one after it is
# parsed; one from INHERIT ran when the configuration was parsed.
LICENSE = "MIT"

addhandler okay_handler_prefinalise
okay_handler_prefinalise[eventmask] = "bb.event.RecipePreFinalise"
python okay_handler_prefinalise() {
    e.data.setVar('RECIPE_HANDLER_SAW', e.data.getVar('BASE_HANDLER_SAW') or 'nothing')
    e.data.setVar('CHANGED_BY_HANDLER', 'changed by a handler')
}

addhandler okay_handler_parsed
okay_handler_parsed[eventmask] = "bb.event.RecipeParsed"
python okay_handler_parsed() {
    e.data.setVar('PARSED_HANDLER_SAW', e.data.getVar('ANON_SAW'))
}

CHANGED_BY_HANDLER = "recipe value"

python () {
    d.setVar('ANON_SAW', d.getVar('CHANGED_BY_HANDLER'))
}

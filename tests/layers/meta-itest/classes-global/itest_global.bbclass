# Inherited through INHERIT in local.conf.

GLOBAL_CLASS = "itest_global"

# A configuration-level event handler: it runs once, when the configuration is
# parsed, and what it sets is seen by every recipe.
addhandler itest_config_handler
itest_config_handler[eventmask] = "bb.event.ConfigParsed"
python itest_config_handler() {
    e.data.setVar('CONFIG_HANDLER_SAW', 'MACHINE=' + e.data.getVar('MACHINE'))
}

# The demo layer's own program goes into the demo image as well.
IMAGE_INSTALL:append = " hello"

"""Delivery: render, bump, promote, images, changed, smoke."""

# Here rather than in the modules that use them, so the command line can offer them as choices
# and defaults without importing those modules.
PROMOTION_ORDER = ("dev", "staging", "prod")
DEFAULT_REPOSITORY_PREFIX = "localhost/shopfloor"
# The image the PostSync smoke Job runs (`shopfloor smoke`), built and delivered like the services.
TOOLS_IMAGE = "tools"

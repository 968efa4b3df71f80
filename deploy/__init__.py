"""Running Wenzhen: the local stack, broker set-up and topology."""
import wenzhen  # noqa: F401 - first, for its warning filter

import wenzhen  # noqa: F401 - first, for its warning filter

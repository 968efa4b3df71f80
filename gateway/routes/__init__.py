"""Route modules; each registers its operations on the shared ``api``."""

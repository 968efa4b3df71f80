"""Wenzhen's services, one Nameko service per package."""

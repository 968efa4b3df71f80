"""reports: read models and KPIs, built from every service's events."""

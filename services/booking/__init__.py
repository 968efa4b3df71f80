"""booking: the catalogue, doctors' schedules and slots, appointments (with holds, check-in, no-shows and reminders),
the waitlist and follow-up plans — one sub-package per capability, composed in ``service.py`` (docs/booking.md)."""

"""booking: schedules, slots, appointments, check-in."""

"""notify: SMS, email, in-app notifications and reminders."""

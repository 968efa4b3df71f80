"""What can be booked: departments, services, rooms and doctors' public profiles.

Managers maintain the catalogue; anyone reads it (it is what a hospital publishes). A doctor's profile belongs to a
staff account that an admin created in identity: booking keeps a small copy of the staff accounts it hears of
(``staff_account_created`` / ``_changed``: id, role, department, status; no names), newest by the account's event
sequence, so a profile is made only for a doctor account. The name shown to patients is stored encrypted like every
person's name in Wenzhen. Services are a fixed set with defaults in code (``rules.DEFAULT_SERVICES``); managers
change their slot length and prepayment. A code is unique by the collection's ``_id``: a second department, room or
profile with it is a 409 naming ``code``/``doctor_id``, whatever the concurrency.
"""

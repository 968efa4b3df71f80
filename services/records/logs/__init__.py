"""Patient logs: during follow-up the patient (or an account acting for the record) records measurements — blood
pressure, glucose, weight, heart rate, temperature — and symptoms; the doctor caring for them reads them as a series.
Each entry is inserted once and never changed (a wrong one is followed by a right one); the values are encrypted at
rest, the kind and the time stay plain for the index a series is read by. Every read is audited."""

"""intake: registration, live consultation chat, structured history, triage."""

"""records: clinical records: encounters, diagnoses, results (a skeleton: its capabilities arrive with their issues)."""

"""pharmacy: pharmacist review, dispensing, delivery or pickup."""

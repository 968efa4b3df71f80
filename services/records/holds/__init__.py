"""Legal holds and retention: an admin places a hold on a patient's record (and releases it), with the reason kept
encrypted; the retention view says until when at least the record and the prescriptions are kept. Wenzhen itself
disposes of nothing; a hold is what any disposal outside it must respect. At most one active hold per patient (a
partial unique index); a release is a conditional update from active."""

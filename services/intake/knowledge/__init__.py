"""The consultants' knowledge base: reply templates, care tips (温馨提示), the base fee schedule, doctors' profiles and
current programmes.

Managers maintain it; consultants, team leads and managers search it and fill an entry's variables to insert it into
a chat. The fee schedule and the doctors' profiles are public (they are quoted to patients). It supports honest
consultation only: no sales scripts, and profiles are listed in a neutral order (department, then name), never
"featured", because consultants must not push a patient toward a particular expert.

Invariants and what enforces them:

* nothing here is personal patient data, so reads are not audited; every change names who made it (``updated_by``);
* entries are never deleted (retiring keeps them, with ``retired_at``);
* a change carries the ``revision`` it was read at and is a conditional update on it, so two managers editing one
  entry cannot silently overwrite each other (optimistic concurrency, a 409 naming ``revision``);
* one live profile per doctor: a unique partial index (``store.INDEXES``), a 409 naming ``doctor_id``;
* at most ``rules.MAX_LIVE`` live entries (creating more is refused), so a search stays bounded.

Search is substring matching done in Python (``rules.rank``) over the entries the equality filters select: Chinese has
no word boundaries, the base is small (hundreds of entries), and ranking needs the text anyway. Measured against the
embedded SecantusDB (which does support ``$regex``): 500 entries of ~300 characters, 15 ms either way, 2,000 entries
58 ms in Python against 69 ms with ``$regex``; so Python, where the matching can also fold full-width letters and case
(NFKC, casefold). A search reads at most ``rules.MAX_SCAN`` entries, the newest first.

The desk uses two of its use cases: ``render_article`` (a template inserted into a chat) and ``doctor_profiles`` (the
doctor advice's fallback when booking does not answer).
"""

"""Record lifecycle: retention periods and floors, the retention planner and runner, signed
destruction records, expiry warnings and the vault quota. Destruction itself is the ``Shredder`` port
(crypto-shredding, voicemail/services/shred.py); this package decides *what* is due and records it."""

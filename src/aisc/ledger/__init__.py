"""The fund ledger: append-only entries; every balance is derived from them."""

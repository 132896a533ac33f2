"""QOS tiers: which an award may use (granted, not chosen)."""

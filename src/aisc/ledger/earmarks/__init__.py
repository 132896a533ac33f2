"""Spending against the fund's earmarks (security, promotion and education)."""

"""Versioned, effective-dated list prices per GPU model."""

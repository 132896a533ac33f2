"""Scheme statistics and reports: the figures officials quote."""

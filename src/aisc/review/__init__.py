"""Reviewer assignment, conflict declarations, scores, and the committee's decision."""

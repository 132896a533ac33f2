"""Applications for subsidised compute, their screening and their state machine."""

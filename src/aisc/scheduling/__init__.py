"""Scheduling: the pure decision core (``core``) and, around it, the I/O that feeds it."""

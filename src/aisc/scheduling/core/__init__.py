"""The pure scheduling core: state in, decisions out. See README.md for the rules."""

from aisc.scheduling.core.model import (
    Decisions,
    Job,
    Node,
    Policy,
    Project,
    Qos,
    Reservation,
    Running,
    Start,
    State,
)
from aisc.scheduling.core.scheduler import schedule

__all__ = [
    "Decisions",
    "Job",
    "Node",
    "Policy",
    "Project",
    "Qos",
    "Reservation",
    "Running",
    "Start",
    "State",
    "schedule",
]

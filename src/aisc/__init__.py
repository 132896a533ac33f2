"""aisc: the operating platform of a public AI supercomputing centre and its subsidy scheme."""

__version__ = "0.1.0"

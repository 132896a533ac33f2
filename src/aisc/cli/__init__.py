"""The ``aisc`` command line: one command group per noun, calling the same services as the API."""

"""The ``posture`` command line: the composition root that joins collectors, store, rules and UI."""

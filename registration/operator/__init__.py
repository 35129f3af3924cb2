"""The operator's overview: the town that runs the service sees how it is used —
counts only, never guest data and never a single business's occupancy."""

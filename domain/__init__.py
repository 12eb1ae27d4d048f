"""The ticket model: aggregates, events, workflows and permissions. Pure: no I/O."""

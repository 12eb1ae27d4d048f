"""Read models: one module per projection, with its tables, event handlers and queries."""

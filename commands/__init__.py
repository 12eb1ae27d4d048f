"""Command structs and one small function per use case: the only code that writes events."""

"""Process roles (API, projector, relay), the CLI, and the start-up of embedded servers."""

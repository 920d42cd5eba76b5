"""What touches the outside: settings, PostgreSQL (embedded or external), the event store."""

"""Read models: one module per projection."""

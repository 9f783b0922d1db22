"""The chaos soak: many trials with every kind of fault at once, on a local multi-node cluster."""

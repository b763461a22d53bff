"""The application layer: the use case one sensor tick runs, and the container that wires it."""

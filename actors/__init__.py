"""The actor systems of the DSO flexibility use case, each its own process, and the field bridge."""

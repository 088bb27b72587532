"""Helpers shared by every layer: configuration, portable hashing, serialization."""

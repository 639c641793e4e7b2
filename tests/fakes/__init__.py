"""Fakes of the platforms' wire protocols, driven by the adapter tests."""

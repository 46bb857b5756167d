"""Harmonise: national layouts and the canonical template to harmonised observations."""

"""Analyses of trained networks: behaviour, population structure, solution type."""

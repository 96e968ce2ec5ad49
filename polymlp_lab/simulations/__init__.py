"""Simulations: molecular dynamics and liquids, grain boundaries, random structure search."""

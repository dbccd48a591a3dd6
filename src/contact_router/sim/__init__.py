"""Simulated contact centers: scenarios and the platform simulator that drives the real pipeline."""

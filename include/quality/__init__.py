"""Soda Core gates between the medallion layers."""

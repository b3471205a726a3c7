"""Batch windows: which days one DAG run processes."""

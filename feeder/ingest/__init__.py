"""Aggregation: fetching followed feeds, parsing them and writing their entries as article files.

Nothing is imported here: each module loads only what it uses.
"""

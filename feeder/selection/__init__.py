"""Deciding what each feed contains: topics, the feeds' items, digest periods.

Nothing is imported here: each module loads only what it uses.
"""

"""Writing the output folder: its layout, atomic writes, and telling WebSub hubs.

Nothing is imported here: each module loads only what it uses.
"""

"""Reading the content folder: finding article files, parsing them, remembering them (the catalog),
and writing article files for ingest.

Nothing is imported here: each module loads only what it uses.
"""

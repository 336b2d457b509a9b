"""Turning feed plans into bytes: RSS and Atom (feedgen), OPML."""

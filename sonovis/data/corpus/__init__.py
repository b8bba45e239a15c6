"""Corpora as caption rows: the built-in scenes, Flickr8k, and the user's recordings.

``rows`` holds what every reader returns; each reader is one file; ``load`` maps ``corpus.kind`` to its
reader. Imports only ``config`` and ``errors``.
"""

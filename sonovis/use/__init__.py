"""Using a trained model: example-based translation (a spoken sentence to images and captions) and the search report.

Imports ``train`` (checkpoints, embedding), ``search``'s result files and ``data``'s engines and features.
"""

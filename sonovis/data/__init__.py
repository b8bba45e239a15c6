"""Everything before training: corpora, speech, features, images, and the prepared Parquet shards.

Owns the corpora (``corpus/``), the speech engines behind one interface and their name registry
(``speech/``), the held-out voice rule, MFCC/log-mel features, the frozen image backbones, the work
inside one shard (``extract``), the Ray Data pipeline that runs it (``prepare``, the only module here
that imports Ray) and the shard schema and loading (``shards``). Imports only ``config``, ``errors``,
``table`` and, in ``prepare``, ``runtime``: nothing from model, train, search or use.
"""

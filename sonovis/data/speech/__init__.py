"""Speech behind one interface: a voice per utterance, a waveform, a cache on disk.

``base`` is the interface; each engine is one file (espeak-ng, gTTS, flite, Pico, RHVoice, the user's
recordings, mixtures of them); ``registry`` is the one place that maps an engine's name to its class,
imported only when that engine is asked for. Engines import ``base``, never the registry.
"""

"""Rooms, microphones, noise, codecs and voice conversion, rendered onto utterances at prep time.

What a person's recording goes through and no synthesiser produces (issue #26). One module a concern:
``room`` (pyroomacoustics), ``channel`` (microphone band and gain, additive noise; scipy.signal),
``codec`` (MP3/Opus round trips through ffmpeg), ``conversion`` (WORLD resynthesis), ``presets``
(fixed sets for evaluation), ``draws`` (seeded generators), and ``chain``: the registry, its physical
order and which renditions go through it. May import config, errors and data.audio.
"""

from sonovis.data.conditions.chain import (
                                           CLEAN,
                                           KINDS,
                                           check_conditions,
                                           condition_counts,
                                           condition_text,
                                           conditions_for,
                                           render,
)
from sonovis.data.conditions.presets import PRESETS

__all__ = ["CLEAN", "KINDS", "PRESETS", "check_conditions", "condition_counts", "condition_text",
           "conditions_for", "render"]

"""Fixed condition sets for evaluation: ``speech.eval_condition = "office"`` speaks every utterance there.

A preset is a ConditionsConfig whose ranges are single values and whose room set is one room, so every
utterance of a dev folder prepared with it is heard in the same room, through the same microphone and
codec, at the same SNR (only the noise itself differs, drawn per utterance). The room depends on the
preset alone, not on speech.seed: dev folders prepared with the same preset are scored in one room.
"""

from __future__ import annotations

from sonovis.config.schema import ConditionsConfig

EVERY_KIND_BUT_CONVERSION = ("room", "microphone", "noise", "codec")

PRESETS: dict[str, ConditionsConfig] = {
    # A laptop on a desk in a small furnished office (4.3 x 4.7 x 2.8 m): RT60 0.5 s measured, the middle
    # of what offices measure (Sabine's 0.42 here), the talker at arm's length, a laptop microphone's
    # 150 Hz-6 kHz band, a fan 20 dB down, and a video call's Opus at 24 kbps.
    "office": ConditionsConfig(
        kinds=EVERY_KIND_BUT_CONVERSION, rooms=1, room_size_m=(4.0, 5.0), room_height_m=(2.8, 2.8),
        rt60_s=(0.42, 0.42), distance_m=(0.7, 0.7), highpass_hz=(150.0, 150.0), lowpass_hz=(6000.0, 6000.0),
        gain_db=(0.0, 0.0), snr_db=(20.0, 20.0), noise_colours=("brown",), codecs=("opus",),
        opus_kbps=(24, 24),
    ),
    # A phone call from a living room (4.5 x 5.5 x 2.5 m): RT60 0.3 s measured (Sabine's 0.25), the
    # phone's microphone 0.3 m from the mouth, a telephone's 300-3400 Hz band, street hiss 15 dB down,
    # and narrowband Opus at 12 kbps, as a weak mobile link gives.
    "phone": ConditionsConfig(
        kinds=EVERY_KIND_BUT_CONVERSION, rooms=1, room_size_m=(4.0, 6.0), room_height_m=(2.5, 2.5),
        rt60_s=(0.25, 0.25), distance_m=(0.3, 0.3), highpass_hz=(300.0, 300.0), lowpass_hz=(3400.0, 3400.0),
        gain_db=(0.0, 0.0), snr_db=(15.0, 15.0), noise_colours=("white",), codecs=("opus",),
        opus_kbps=(12, 12),
    ),
}

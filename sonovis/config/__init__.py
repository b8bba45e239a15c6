"""Typed configuration: the schema (``schema``) apart from the TOML/``--set``/flatten plumbing (``loading``).

The package's face re-exports both, so callers write ``from sonovis.config import TrainConfig, load_settings``.
"""

from sonovis.config.loading import (
                                    ablate_config,
                                    apply_overrides,
                                    check_ranges,
                                    experiment_config,
                                    experiment_from_flat,
                                    flatten,
                                    from_dict,
                                    load_settings,
                                    prepare_config,
                                    read_toml,
                                    search_config,
                                    to_dict,
                                    unflatten,
)
from sonovis.config.ranges import Interval, ranged
from sonovis.config.schema import (
                                    SPLITS,
                                    AblateConfig,
                                    AugmentConfig,
                                    ConditionsConfig,
                                    CorpusConfig,
                                    ExperimentConfig,
                                    FeatureConfig,
                                    ModelConfig,
                                    PrepareConfig,
                                    SearchConfig,
                                    SpeechConfig,
                                    TrainConfig,
)

__all__ = ["SPLITS", "AblateConfig", "AugmentConfig", "ConditionsConfig", "CorpusConfig", "ExperimentConfig",
           "FeatureConfig", "Interval", "ModelConfig", "PrepareConfig", "SearchConfig", "SpeechConfig",
           "TrainConfig", "ablate_config", "apply_overrides", "check_ranges", "experiment_config",
           "experiment_from_flat", "flatten", "from_dict", "load_settings", "prepare_config", "ranged", "read_toml",
           "search_config", "to_dict", "unflatten"]

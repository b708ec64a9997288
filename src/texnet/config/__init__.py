"""Typed configurations: every option once (name, type, default, help, validation); the CLI is generated from them.

schema: the loss and optimization configs and (de)serialization; train: TrainConfig; inference: InferenceConfig;
hparams: the training defaults with their sources; vocab: choices and parsers shared with the code that acts on them.
"""
from texnet.config.hparams import *  # noqa: F401,F403
from texnet.config.inference import InferenceConfig  # noqa: F401
from texnet.config.schema import *  # noqa: F401,F403
from texnet.config.schema import from_dict, to_dict  # noqa: F401
from texnet.config.train import RENAMED_TRAIN_KEYS, TrainConfig, train_config_from_saved  # noqa: F401

"""mathforge: the DeepSeekMath recipe as software (corpus engine, megatron-core training, evaluation)."""

__version__ = "0.1.0"

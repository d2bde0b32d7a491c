"""GRPO (DeepSeekMath §4): vLLM rollouts, rewards, group-relative advantages, the clipped objective."""

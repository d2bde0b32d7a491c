"""Evaluation: benchmarks, prompts, answer extraction and grading, a code sandbox, metrics, backends, reports.

benchmarks (test sets -> BenchmarkItem) · answers (final-answer extraction) · normalize + grading
(fast numeric path, math-verify in worker processes) · sandbox + sandbox_server (model code under
OS limits) · programs (PoT, tool-integrated loop) · prompts (few-shot, chat template) · metrics
(accuracy, Pass@K, Maj@K) · backends (vLLM, transformers) · runner + report (a run's files) · cli, demo.
Imports neither `corpus` nor `training`; both may import it.
"""

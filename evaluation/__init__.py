"""Evaluation: benchmarks, prompts, answer extraction and grading, a code sandbox, metrics, backends, reports.

benchmarks (test sets -> BenchmarkItem) · answers (final-answer extraction) · normalize + grading
(fast numeric path, math-verify in bounded worker processes) · sandbox + sandbox_server + isolation +
seccomp (model code in namespaces, root or not) · programs (PoT, tool-integrated loop) · prompts +
paper_prompts + prompt_data (the paper's few-shot prompts) · chat_template · metrics
(accuracy, Pass@K, Maj@K) · backends (vLLM, transformers) · runner + report (a run's files) · cli, demo.
Imports neither `corpus` nor `training`; both may import it.
"""

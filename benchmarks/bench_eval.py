"""Evaluation performance, side by side with the reference way of doing the same thing.

1. grading throughput: our Grader (fast path + math-verify worker pool) vs math-verify alone
   (parse + verify per pair, one process), on GSM8K + MATH-500 golds vs gold and vs perturbed gold;
2. sandbox: programs/s of SandboxPool (namespaces, private root, seccomp) vs one fresh `python -c` per
   program, without and with the same namespaces (`unshare`), and hostile answers through the Grader;
3. generation: GSM8K test (first --gsm8k-limit questions, the paper's 8-shot prompt) on a tiny random
   Llama, vLLM (eager in the caller's process, our CPU default; eager in vLLM's own engine and worker
   processes, vLLM's default; torch-compiled, `cpu_compile`, from an empty compile cache as on a fresh
   machine) vs transformers;
4. Maj@K over all K-subsets: the exact count (metrics.maj_at_k) vs enumerating every subset.

Usage: .venv/bin/python benchmarks/bench_eval.py [--gsm8k-limit 128] [--skip-generation] [--only-maj]
       [--only-sandbox] [--only-generation]
Needs ../shared/data/benchmarks (or MATHFORGE_SHARED); prints a table per part.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.benchmarks import iter_benchmark_items  # noqa: E402
from evaluation.grading import Grader, GradingConfig, _latex  # noqa: E402
from evaluation.sandbox import SandboxConfig, SandboxPool  # noqa: E402


def table(title: str, rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\n## {title}\n")
    for index, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def bench_grading(root: Path) -> None:
    from math_verify import parse, verify

    items = [i for i in iter_benchmark_items(root, ["gsm8k", "math500"]) if re.search(r"\d", i.answer)]
    wrong = [re.sub(r"\d", lambda m: str(int(m.group()) + 1), i.answer, count=1) for i in items]
    pairs = [(i.answer, i) for i in items] + [(w, i) for w, i in zip(wrong, items, strict=True)]
    start = time.perf_counter()
    reference = [bool(verify(parse(_latex(i.answer)), parse(_latex(p)))) for p, i in pairs]
    t_ref = time.perf_counter() - start
    with Grader(GradingConfig(workers=2)) as grader:
        start = time.perf_counter()
        ours = grader.grade_many(pairs)
        t_cold = time.perf_counter() - start  # includes starting the 2 worker processes
        start = time.perf_counter()
        grader.grade_many(pairs)
        t_warm = time.perf_counter() - start
    half = len(items)
    counts = (f"{sum(reference[:half])}/{half}", f"{half - sum(reference[half:])}/{half}")
    ours_counts = (f"{sum(ours[:half])}/{half}", f"{half - sum(ours[half:])}/{half}")
    table(f"grading {len(pairs)} pairs (GSM8K + MATH-500 golds with a digit, vs gold and vs perturbed gold)", [
        ("grader", "pairs/s", "seconds", "golds right", "perturbed wrong"),
        ("math-verify alone, 1 process", f"{len(pairs) / t_ref:.0f}", f"{t_ref:.1f}", *counts),
        ("mathforge Grader, 2 workers, cold start", f"{len(pairs) / t_cold:.0f}", f"{t_cold:.1f}", *ours_counts),
        ("mathforge Grader, 2 workers, warm", f"{len(pairs) / t_warm:.0f}", f"{t_warm:.1f}", *ours_counts),
    ])


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its descendants, the reaped ones included (utime + stime +
    cutime + cstime of every live process in the tree)."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / ticks
    return own + sum(tree_cpu_s(int(c)) for c in children)


def bench_sandbox(programs: int = 500) -> None:
    """Wall-clock programs/s depends on what else the (shared) machine runs; CPU seconds per program
    (evaluator + servers + programs) do not, and give the rate two idle cores would reach."""
    import resource

    from evaluation.isolation import launcher

    def cpu_now(pool: SandboxPool) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime + sum(tree_cpu_s(s.proc.pid) for s in pool._servers)

    codes = [f"total = sum(range({i}))\nprint(total)" for i in range(programs)]
    rows = [("runner", "programs", "programs/s (wall)", "CPU ms / program", "programs/s on 2 idle cores")]
    with SandboxPool(SandboxConfig(workers=2)) as pool:
        summary = pool.isolation_summary()
        cpu, start = cpu_now(pool), time.perf_counter()
        results = pool.run_many(codes)
        t_pool, c_pool = time.perf_counter() - start, cpu_now(pool) - cpu
        cpu, start = cpu_now(pool), time.perf_counter()
        latex = pool.to_latex_many([r.output for r in results])
        t_latex, c_latex = time.perf_counter() - start, cpu_now(pool) - cpu
    assert all(r.ok for r in results) and latex == [r.output.strip() for r in results]
    for label, wall, used in (("SandboxPool, 2 servers (fork per program)", t_pool, c_pool),
                              ("SandboxPool.to_latex of their outputs (fork per output)", t_latex, c_latex)):
        rows.append((label, str(programs), f"{programs / wall:.0f}", f"{1000 * used / programs:.1f}",
                     f"{2 * programs / used:.0f}"))
    naive_n = 30
    for label, prefix in (("fresh `python -c` per program, no limits", []),
                          ("fresh `unshare ... python -c` per program (same namespaces)", launcher(os.geteuid() == 0))):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for code in codes[:naive_n]:
                subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, cwd=tmp, timeout=30, check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        rows.append((label, str(naive_n), f"{naive_n / wall:.0f}", f"{1000 * used / naive_n:.1f}", f"{2 * naive_n / used:.0f}"))
    load = os.getloadavg()[0]
    table(f"sandbox: short programs, {os.cpu_count()} cores, load average {load:.1f}, uid {os.geteuid()} "
          f"(isolation: {summary})", rows)


def bench_generation(root: Path, limit: int) -> None:
    """Runs each backend in its own process (vLLM needs a __main__ guard and owns its engine process)."""
    rows = [("backend", "questions", "load s", "generate s", "questions/s")]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny"
        subprocess.run([sys.executable, "-c", f"from evaluation.tiny_model import write_tiny_llama; "
                        f"write_tiny_llama({str(model)!r})"], check=True, cwd=REPO, capture_output=True)
        for kind in ("hf", "vllm", "vllm-separate-processes", "vllm-compiled"):
            env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(Path(tmp) / f"cache-{kind}")}
            if kind == "vllm-separate-processes":
                env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1"
            done = subprocess.run([sys.executable, __file__, "--one-backend", kind, "--model", str(model),
                                   "--root", str(root), "--gsm8k-limit", str(limit)],
                                  capture_output=True, text=True, cwd=REPO, env=env)
            line = [x for x in done.stdout.splitlines() if x.startswith("RESULT")]
            if not line:
                rows.append((kind, str(limit), "failed", done.stderr[-200:].replace("\n", " "), ""))
                continue
            _, load_s, gen_s = line[-1].split()
            rows.append((kind, str(limit), f"{float(load_s):.1f}", f"{float(gen_s):.1f}", f"{limit / float(gen_s):.1f}"))
    table(f"generation: GSM8K test, first {limit} questions, the paper's 8-shot CoT, greedy, up to 128 new tokens, "
          "tiny Llama", rows)


def one_backend(kind: str, model: str, root: Path, limit: int) -> None:
    from evaluation.backends import BackendConfig, SamplingConfig, make_backend
    from evaluation.prompts import build_prompt, stop_sequences

    items = list(iter_benchmark_items(root, ["gsm8k"]))[:limit]
    prompts = [build_prompt(i, "cot") for i in items]
    start = time.perf_counter()
    cfg = BackendConfig(kind="vllm" if kind.startswith("vllm") else "hf", batch_size=32, cpu_compile=kind == "vllm-compiled")
    backend = make_backend(cfg, model)
    loaded = time.perf_counter()
    backend.generate(prompts, SamplingConfig(max_new_tokens=128), stop_sequences("cot", False, items[0]))
    print(f"RESULT {loaded - start} {time.perf_counter() - loaded}", flush=True)
    backend.close()


def bench_maj_at_k(questions: int = 20) -> None:
    import itertools
    import math
    import random

    from evaluation.metrics import k_values, maj_at_k, majority_vote

    def enumerate_subsets(answers: list, correct: list, k: int) -> float:
        subsets = itertools.combinations(range(len(answers)), k)
        wins = sum(bool((w := majority_vote([answers[i] for i in s])) is not None and correct[s[w]]) for s in subsets)
        return wins / math.comb(len(answers), k)

    rng = random.Random(0)
    rows = [("n samples, clusters", "K values", "exact (ms/question)", "enumeration (ms/question)", "max |diff|")]
    for n, clusters in [(16, 4), (64, 4), (64, 16)]:
        data = []
        for _ in range(questions):
            answers = [str(rng.randint(1, clusters)) if rng.random() < 0.9 else None for _ in range(n)]
            data.append((answers, [a == "1" for a in answers]))
        start = time.perf_counter()
        exact = [[maj_at_k(a, c, k) for k in k_values(n)] for a, c in data]
        exact_ms = 1000 * (time.perf_counter() - start) / questions
        if math.comb(n, n // 2) <= 20000:
            start = time.perf_counter()
            brute = [[enumerate_subsets(a, c, k) for k in k_values(n)] for a, c in data]
            brute_ms = f"{1000 * (time.perf_counter() - start) / questions:.1f}"
            diff = f"{max(abs(x - y) for e, b in zip(exact, brute, strict=True) for x, y in zip(e, b, strict=True)):.1e}"
        else:
            brute_ms, diff = f"infeasible (C({n},{n // 2}) = {math.comb(n, n // 2):.1e} subsets)", "-"
        rows.append((f"{n}, {clusters}", ",".join(map(str, k_values(n))), f"{exact_ms:.1f}", brute_ms, diff))
    table("Maj@K: exact subset counting vs enumeration", rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gsm8k-limit", type=int, default=32)
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--one-backend", choices=["hf", "vllm", "vllm-separate-processes", "vllm-compiled"])
    parser.add_argument("--model")
    parser.add_argument("--root")
    parser.add_argument("--only-maj", action="store_true", help="only part 4 (needs no benchmark data)")
    parser.add_argument("--only-sandbox", action="store_true", help="only part 2 (needs no benchmark data)")
    parser.add_argument("--only-generation", action="store_true", help="only part 3")
    args = parser.parse_args()
    if args.only_maj:
        bench_maj_at_k()
        return 0
    machine = f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    if args.only_sandbox:
        print(machine)
        bench_sandbox()
        return 0
    shared = Path(os.environ.get("MATHFORGE_SHARED", REPO.parent / "shared"))
    root = Path(args.root) if args.root else shared / "data" / "benchmarks"
    if not root.is_dir():
        print(f"benchmark data not found at {root} (set MATHFORGE_SHARED); nothing measured")
        return 1
    if args.one_backend:
        one_backend(args.one_backend, args.model, root, args.gsm8k_limit)
        return 0
    print(machine)
    if args.only_generation:
        bench_generation(root, args.gsm8k_limit)
        return 0
    bench_grading(root)
    bench_sandbox()
    bench_maj_at_k()
    if not args.skip_generation:
        bench_generation(root, args.gsm8k_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

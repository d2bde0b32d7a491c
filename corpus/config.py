"""Typed configs of the corpus stage: one small dataclass per component, composed into `CorpusRunConfig`.

Loaded with `mathforge.config.load_config(CorpusRunConfig, path, overrides)`; see
configs/tiny/corpus.toml and configs/deepseekmath-7b/corpus.toml for documented values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass
class SampleConfig:
    """`mathforge corpus make-sample`: a deterministic sample crawl with known truth (corpus.sample_crawl)."""

    output_dir: Path = Path("runs/sample")
    text_root: str = ""  # a folder laid out like shared/data (train/, web/): pages from real text; "" = templates
    pages: int = 1000
    shards: int = 2
    seed: int = 0
    seed_pages: int = 400  # "OpenWebMath-like" positives (url + text), disjoint from the crawl
    math_fraction: float = 0.3
    zh_fraction: float = 0.15
    near_duplicate_fraction: float = 0.05
    recall_fraction: float = 0.0  # pages on the recall sites: math in a register the seed lacks (corpus.sample_recall)
    contaminated_fraction: float = 0.02  # math pages quoting a sample benchmark problem verbatim
    faults: bool = True  # add broken records (non-HTTP, binary, bad encoding, empty, huge, truncated gzip)
    huge_page_bytes: int = 50_000_000
    workers: int = 1  # shards generated in parallel processes


@dataclass
class ReadConfig:
    """Inputs: a folder (local or any fsspec URL, e.g. s3://commoncrawl/...) and a glob inside it."""

    input: str = "runs/sample/crawl"
    glob: str = "*.warc.gz"
    format: Literal["warc", "wet", "parquet", "jsonl"] = "warc"
    text_key: str = "text"  # parquet / jsonl inputs: column holding the HTML or text
    max_html_bytes: int = 5_000_000  # bigger records are skipped and counted as `too_large`
    limit: int = -1


@dataclass
class ExtractConfig:
    """Math-aware HTML -> text, language id and light quality filters."""

    languages: list[str] = field(default_factory=lambda: ["en", "zh"])
    min_chars: int = 200
    max_boilerplate_ratio: float = 0.75  # 1 - main-content chars / all visible chars
    min_alpha_ratio: float = 0.4  # letters (any script) / non-space chars


@dataclass
class ClassifierConfig:
    """fastText math classifier (paper: dim 256, lr 0.1, wordNgrams 3, minCount 3, epoch 3, 500k/500k)."""

    positives: int = 500_000
    negatives: int = 500_000
    holdout_fraction: float = 0.1
    dim: int = 256
    lr: float = 0.1
    word_ngrams: int = 3
    min_count: int = 3
    epoch: int = 3
    bucket: int = 2_000_000  # 2e6 x dim 256 writes a 2 GB model; tiny configs use ~200k
    threads: int = 1  # 1 keeps training deterministic (resume-after-kill reproduces the model)
    seed: int = 0


@dataclass
class SelectConfig:
    """Keep a page when math_score >= threshold, the top `top_fraction` of pages by score, or the
    top-scoring pages up to `token_budget` tokens (the paper's rule; corpus.selection)."""

    mode: Literal["threshold", "top_fraction", "token_budget"] = "threshold"
    threshold: float = 0.5
    top_fraction: float = 0.1
    token_budget: int = 40_000_000_000  # paper round 1: the top 40B tokens
    histogram_bins: int = 10_000  # score -> token histogram resolution for token_budget


@dataclass
class JsonlBenchmarkConfig:
    """A local JSONL benchmark file, parsed by evaluation.benchmarks' record format `fmt`."""

    path: str
    name: str
    fmt: str = "question_answer"
    lang: str = "en"


@dataclass
class HFBenchmarkConfig:
    """A Hugging Face dataset (evaluation.benchmarks.iter_hf_items); `path="json"` + data_files reads local files."""

    name: str
    path: str = ""
    config: str = ""
    split: str = ""
    fmt: str = ""
    lang: str = "en"
    data_files: list[str] = field(default_factory=list)


@dataclass
class DecontamConfig:
    """Benchmarks to decontaminate against (questions, answers, solutions) and the n-gram rule."""

    enabled: bool = True
    benchmarks_root: str = ""  # a folder laid out like shared/data/benchmarks; "" = none
    benchmarks: list[str] = field(default_factory=list)  # names under benchmarks_root; [] = all found there
    jsonl: list[JsonlBenchmarkConfig] = field(default_factory=list)
    hf: list[HFBenchmarkConfig] = field(default_factory=list)
    ngram: int = 10
    min_ngram: int = 3
    min_chars: int = 40  # a matched n-gram must span this many characters (an exact short question: half)
    index_solutions: bool = False  # solutions share stock phrases with real math pages (measured: bench_decontam.py)


@dataclass
class DedupConfig:
    """Exact URL dedup and MinHash near-dedup of the text cache before recall round 1 (corpus.dedup)."""

    url: bool = True
    minhash: bool = True
    n_grams: int = 5  # datatrove's MinhashConfig defaults: 5-grams, 14 buckets x 8 hashes
    num_buckets: int = 14
    hashes_per_bucket: int = 8
    seed: int = 1


@dataclass
class RecallConfig:
    """`mathforge corpus recall`: the paper's collection rounds (corpus.recall)."""

    max_rounds: int = 4
    math_domain_threshold: float = 0.10  # a domain is math when > this share of its pages was selected
    stop_overlap: float = 0.98  # stop when this share of a round's selection was already selected the round before
    annotations: str = ""  # URL annotation TOML (domain -> path patterns); "" = none (corpus.annotations)


@dataclass
class ExecutorConfig:
    kind: Literal["local", "slurm"] = "local"
    tasks: int = 2
    workers: int = 2
    partition: str = "debug"
    time: str = "01:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    venv_path: str = ".venv/bin/activate"


@dataclass
class CorpusRunConfig:
    """`mathforge corpus run`: extract -> train classifier -> score/select/decontaminate -> Parquet."""

    run_dir: Path = Path("runs/corpus")
    round: int = 1
    seed_corpus: str = "runs/sample/seed/seed.parquet"  # url + text positives
    ground_truth: str = ""  # optional url -> is_math Parquet, for precision/recall in the summary
    write_dropped: bool = False  # keep what each filter removed under run_dir/dropped/<filter>/ for inspection
    sample: SampleConfig = field(default_factory=SampleConfig)
    read: ReadConfig = field(default_factory=ReadConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)  # recall runs only
    recall: RecallConfig = field(default_factory=RecallConfig)  # recall runs only
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

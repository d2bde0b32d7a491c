"""URL dedup + MinHash near-dedup through datatrove's own steps, on a small text cache with known duplicates."""

import random

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from corpus.config import CorpusRunConfig, DedupConfig, ExecutorConfig
from corpus.dedup import MixedScriptTokenizer, normalized_url, run_dedup
from corpus.schema import EXTRACTED_SCHEMA

WORDS = ("prime number integer divisor theorem proof limit series vector matrix field group ring module "
         "football recipe garlic onion election market travel river mountain city music film").split()


def page(i, url, text):
    return {"id": f"doc-{i}", "url": url, "domain": "", "date": "", "text": text, "lang": "en",
            "source_file": "f", "source_offset": i, "boilerplate_ratio": 0.1, "math_elements": 0}


@pytest.fixture(scope="module")
def dedup_run(tmp_path_factory):
    """40 distinct pages, 6 re-crawls of an existing URL (other text), 5 near-copies (one word changed)."""
    root = tmp_path_factory.mktemp("dedup")
    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS) for _ in range(300)) for _ in range(40)]
    rows = [page(i, f"https://site{i % 7}.example.com/p/{i}", t) for i, t in enumerate(texts)]
    for j in range(6):  # same URL as page j (case/fragment differ), unrelated text
        rows.append(page(100 + j, f"HTTPS://SITE{j % 7}.example.com/p/{j}#top", " ".join(rng.choice(WORDS) for _ in range(300))))
    for j in range(5):  # near-copies of pages 10..14 under new URLs
        words = texts[10 + j].split()
        words[150] = "changed"
        rows.append(page(200 + j, f"https://mirror.example.org/{j}", " ".join(words)))
    rng.shuffle(rows)
    for shard in range(2):
        (root / "extracted").mkdir(exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows[shard::2], schema=EXTRACTED_SCHEMA), root / "extracted" / f"{shard:05d}.parquet")
    cfg = CorpusRunConfig(run_dir=root, dedup=DedupConfig(num_buckets=4, hashes_per_bucket=4),
                          executor=ExecutorConfig(tasks=2, workers=1))
    counts = run_dedup(cfg, root / "extracted", root / "deduped", root / "dedup", root / "logs")
    kept = ds.dataset(str(root / "deduped"), format="parquet").to_table().to_pylist()
    return counts, kept, rows, root


def test_url_and_near_duplicates_are_removed_and_counted(dedup_run):
    counts, kept, rows, _ = dedup_run
    assert counts == {"pages_in": 51, "url_duplicates": 6, "near_duplicates": 5, "pages_out": 40}
    assert len(kept) == 40
    assert len({normalized_url(type("D", (), {"metadata": {"url": r["url"]}})) for r in kept}) == 40
    originals_or_copies = [r for r in kept if r["id"] in {f"doc-{10 + j}" for j in range(5)}
                           or r["id"] in {f"doc-{200 + j}" for j in range(5)}]
    assert len(originals_or_copies) == 5  # one of each near-duplicate pair survives
    assert set(kept[0]) == set(EXTRACTED_SCHEMA.names)


def test_rerun_skips_finished_stages_with_identical_output(dedup_run):
    counts, kept, _, root = dedup_run
    before = {f.name: f.read_bytes() for f in (root / "deduped").glob("*.parquet")}
    cfg = CorpusRunConfig(run_dir=root, dedup=DedupConfig(num_buckets=4, hashes_per_bucket=4),
                          executor=ExecutorConfig(tasks=2, workers=1))
    again = run_dedup(cfg, root / "extracted", root / "deduped", root / "dedup", root / "logs")
    assert again == counts
    assert {f.name: f.read_bytes() for f in (root / "deduped").glob("*.parquet")} == before


def test_tokenizer_splits_cjk_characters_and_words():
    tok = MixedScriptTokenizer()
    assert tok.word_tokenize("Let x_1 be 已知函数 prime.") == ["Let", "x", "1", "be", "已", "知", "函", "数", "prime"]

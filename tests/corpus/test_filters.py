"""Script-based language id and the quality filters' drop reasons."""

from __future__ import annotations

from datatrove.data import Document

from corpus.config import ExtractConfig
from corpus.filters import LanguageTagFilter, QualityFilter, detect_language


def test_detect_language():
    assert detect_language("The function is continuous on the interval, so the integral exists.") == "en"
    assert detect_language("已知函数 $f(x)=x^2+1$，求函数的最小值。") == "zh"
    assert detect_language("Der Hund läuft schnell über die Straße und bellt laut.") == "other"
    assert detect_language("$x^2 + y^2 = z^2$ $$\\int_0^1 f$$") == "other"
    assert detect_language("") == "other"


def run_filter(step, texts, **meta):
    docs = [Document(text=t, id=str(i), metadata=dict(meta)) for i, t in enumerate(texts)]
    kept = list(step.run(iter(docs)))
    return kept, step.stats


def test_language_filter_tags_and_counts():
    kept, stats = run_filter(LanguageTagFilter(["en"]), ["This is the text of a page.", "这是一个中文页面。"])
    assert [d.metadata["lang"] for d in kept] == ["en"]
    assert stats["dropped_lang_zh"].total == 1


def test_quality_filter_reasons():
    cfg = ExtractConfig(min_chars=20, max_boilerplate_ratio=0.5, min_alpha_ratio=0.5)
    step = QualityFilter(cfg)
    docs = [Document("short", "a"), Document("A long enough article about things.", "b", metadata={"boilerplate_ratio": 0.9}),
            Document("1 2 3 4 5 6 7 8 9 10 11 12 13 = + - *", "c"),
            Document("A long enough article about things.", "d", metadata={"boilerplate_ratio": 0.1})]
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["d"]
    for reason in ("too_short", "boilerplate", "low_alpha"):
        assert step.stats[f"dropped_{reason}"].total == 1


def test_kana_is_japanese_and_hangul_korean():
    assert detect_language("東京都は新しい計画を発表しました。これは市民のためのものです。") == "ja"
    assert detect_language("カタカナだけのテキストとひらがな") == "ja"
    assert detect_language("서울시는 새로운 교통 계획을 발표했습니다.") == "ko"
    assert detect_language("东京都发表了新的计划，这是为了市民。") == "zh"


def test_real_japanese_pages_are_ja_and_dropped_unless_configured(web_dir):
    """Real Japanese pages (Yahoo! Japan news, a fable site, Ameba/livedoor/Tabelog) were tagged `zh` before."""
    from corpus.extract import html_to_text
    from corpus.real_sources import read_page_html, web_manifest

    pages = [p for p in web_manifest(web_dir) if p.lang == "ja"]
    zh = [p for p in web_manifest(web_dir) if p.lang == "zh"]
    assert len(pages) >= 5 and len(zh) >= 5
    texts = [html_to_text(read_page_html(p.path)).text for p in pages]
    assert [detect_language(t) for t in texts] == ["ja"] * len(pages)
    assert all(detect_language(html_to_text(read_page_html(p.path)).text) == "zh" for p in zh)
    kept, stats = run_filter(LanguageTagFilter(["en", "zh"]), texts)
    assert kept == [] and stats["dropped_lang_ja"].total == len(pages)
    kept, _ = run_filter(LanguageTagFilter(["en", "zh", "ja"]), texts)
    assert len(kept) == len(pages)

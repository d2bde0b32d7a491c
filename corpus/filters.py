"""Language id and light quality filters, as datatrove filters that record a reason for each drop.

Language id is script-based, not fastText's lid model: datatrove's `LanguageFilter` downloads
`lid.176.bin` from the Hugging Face hub at run time, which this project does not allow (offline
runs, no run-time downloads). The corpus is English and Chinese, which scripts separate well:

  formulas ($…$) are removed first; han = CJK ideographs, kana = hiragana + katakana,
  hangul = Korean syllables and jamo, latin = ASCII letters;  cjk = han + kana + hangul
  ja    if kana / cjk >= 0.05 and cjk / (cjk + latin) >= 0.2   (Japanese mixes kana into kanji;
        Chinese has none, so a kana share, not the ideographs, tells them apart)
  ko    elif hangul / cjk >= 0.5 and cjk / (cjk + latin) >= 0.2
  zh    elif han / (han + latin) >= 0.2
  en    elif latin > 0 and the share of words that are common English function words >= 0.08
  other otherwise
"""

from __future__ import annotations

import re

from datatrove.pipeline.filters.base_filter import BaseFilter

from corpus.config import ExtractConfig

MATH_SPAN_RE = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
KANA_RE = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
HANGUL_RE = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
LATIN_RE = re.compile(r"[A-Za-z]")
WORD_RE = re.compile(r"[A-Za-z]+")
EN_FUNCTION_WORDS = frozenset(
    "the of and to a in is it that for on with as be by are this was at or from an we if then let what how "
    "which not but all can have has its so there their they you your our he she his her".split())
SAMPLE_CHARS = 4000  # enough text to decide; keeps the detector O(1) on huge pages


def detect_language(text: str) -> str:
    """"en", "zh", "ja", "ko" or "other" by script counts (rule in the module docstring)."""
    sample = MATH_SPAN_RE.sub(" ", text[:SAMPLE_CHARS])
    han = len(HAN_RE.findall(sample))
    kana = len(KANA_RE.findall(sample))
    hangul = len(HANGUL_RE.findall(sample))
    latin = len(LATIN_RE.findall(sample))
    cjk = han + kana + hangul
    if cjk and cjk / (cjk + latin) >= 0.2:
        if kana / cjk >= 0.05:
            return "ja"
        if hangul / cjk >= 0.5:
            return "ko"
    if han and han / (han + latin) >= 0.2:
        return "zh"
    if latin:
        words = WORD_RE.findall(sample)
        common = sum(1 for w in words if w.lower() in EN_FUNCTION_WORDS)
        if words and common / len(words) >= 0.08:
            return "en"
    return "other"


def alpha_ratio(text: str) -> float:
    """Letters (any script) / non-space characters."""
    chars = [c for c in text[:SAMPLE_CHARS] if not c.isspace()]
    return sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0


class LanguageTagFilter(BaseFilter):
    """Sets metadata `lang`; keeps documents whose language is in `languages` (drop reason: lang_<code>)."""

    name = "🌍 script language id"

    def __init__(self, languages: list[str], exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.languages = set(languages)

    def filter(self, doc):
        lang = detect_language(doc.text)
        doc.metadata["lang"] = lang
        return True if lang in self.languages else (False, f"lang_{lang}")


class QualityFilter(BaseFilter):
    """Drops short texts, boilerplate-dominated pages and symbol soup (reasons: too_short, boilerplate, low_alpha)."""

    name = "🧹 quality"

    def __init__(self, cfg: ExtractConfig, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.cfg = cfg

    def filter(self, doc):
        if len(doc.text) < self.cfg.min_chars:
            return False, "too_short"
        ratio = doc.metadata.get("boilerplate_ratio")
        if ratio is not None and ratio > self.cfg.max_boilerplate_ratio:
            return False, "boilerplate"
        if alpha_ratio(doc.text) < self.cfg.min_alpha_ratio:
            return False, "low_alpha"
        return True

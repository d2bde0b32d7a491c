"""The paper's prompts: shipped byte for byte, rendered exactly as the reference harness renders them,
their answer conventions extracted right, and their PAL programs run as the paper's harness runs them."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evaluation.answers import extract_answer, extract_choice
from evaluation.benchmarks import LETTERS, BenchmarkItem, iter_benchmark_items
from evaluation.paper_prompts import PROMPT_DIR, PromptError, load_prompt
from evaluation.programs import run_pot
from evaluation.prompts import PAPER_PROMPTS, build_prompt, paper_prompt_for, pot_format, stop_sequences
from evaluation.sandbox import SandboxConfig, SandboxPool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference_dir() -> Path:
    path = REPO.parent / "shared" / "data" / "prompts" / "deepseek-math"
    if not path.is_dir():
        pytest.skip(f"reference prompt files not found at {path}")
    return path


def reference_prompt(path: Path) -> tuple[Callable[[str, str], str], list[str]]:
    """The reference file's own `format_prompt` and `stop_words()`, executed from its source text
    (its module-level assignments and those two methods; the harness base class is not needed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    namespace: dict = {}
    nodes = [n for n in tree.body if isinstance(n, ast.Assign)]
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    nodes += [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in ("format_prompt", "stop_words")]
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102
    return (lambda q, out: namespace["format_prompt"](None, q, out)), namespace["stop_words"](None)


def test_shipped_files_are_byte_for_byte_copies(reference_dir: Path) -> None:
    shipped = sorted(p.name for p in PROMPT_DIR.iterdir() if p.is_file())
    assert shipped == sorted(p.name for p in reference_dir.iterdir() if p.is_file())
    for name in shipped:
        assert hashlib.sha256((PROMPT_DIR / name).read_bytes()).digest() == \
            hashlib.sha256((reference_dir / name).read_bytes()).digest(), name
    sources = (PROMPT_DIR.parent / "SOURCES.md").read_text(encoding="utf-8")
    for name in shipped:  # each file's source, size and hash are noted
        digest = hashlib.sha256((PROMPT_DIR / name).read_bytes()).hexdigest()[:16]
        assert f"| {name} | {(PROMPT_DIR / name).stat().st_size} | {digest} |" in sources, name


@pytest.mark.parametrize("name", sorted(p.stem for p in PROMPT_DIR.glob("*.py")))
def test_every_prompt_renders_exactly_as_the_reference(reference_dir: Path, name: str) -> None:
    format_prompt, stop_words = reference_prompt(reference_dir / f"{name}.py")
    prompt = load_prompt(name)
    for question in ("Tom has 3 apples and buys 4. How many?", "小明有 5 个苹果。\n他还有几个？", "$x^2=4$, find $x$. "):
        assert prompt.render(question) == format_prompt(question, "")
    assert list(prompt.stop_words) == stop_words


def test_shot_counts_and_subsets() -> None:
    expected = {"cot_gsm_8_shot": 8, "cot_minerva_math_4_shot": 4, "cot_cmath_6_shot": 6, "cot_mmlu_stem_4_shot": 4,
                "cot_math_sat_4_shot": 4, "cot_ocwcourses_4_shot": 4, "pal_gsm_8_shot": 8,
                "pal_math_4_shot": 5,  # the published file holds five exemplars despite its name
                "cot_gaokao_mathcloze_5_shot": 5, "cot_gaokao_mathqa_5_shot": 5}
    assert {name: load_prompt(name).shots for name in expected} == expected
    gsm = load_prompt("cot_gsm_8_shot")
    two = gsm.render("Q?", 2)
    assert two == gsm.few_shot.split("\n\n\nQ: Leah")[0] + "\n\n\nQ: Q?\nA:"  # the first two exemplars
    assert gsm.render("Q?", 0) == "Q: Q?\nA:"
    with pytest.raises(PromptError, match="9 shots requested, the paper's prompt has 8"):
        gsm.render("Q?", 9)
    with pytest.raises(PromptError, match="cannot be separated"):
        load_prompt("cot_gaokao_mathqa_5_shot").render("Q?", 3)
    item = BenchmarkItem("math", "m", "Q?", "1")
    with pytest.raises(PromptError):
        build_prompt(item, "cot", shots=5)  # Minerva has 4: an error, not a silent 4-shot
    with pytest.raises(PromptError):
        build_prompt(item, "tool", shots=3)


def harness_task_input(item: BenchmarkItem) -> str:
    """How DeepSeek-Math's process_* functions lay out a question (options as in the exemplars)."""
    if not item.choices:
        return item.question.strip()
    if item.benchmark == "gaokao_mathqa":
        return f"{item.question.strip()}\n从以下选项中选择:    " + " ".join(
            f"({LETTERS[i]}){c}" for i, c in enumerate(item.choices))
    options = ", ".join(f"({LETTERS[i]}) {str(c).strip()}" for i, c in enumerate(item.choices))
    return f"{item.question.strip()}\nWhat of the following is the right choice? Explain your answer.\n{options}"


@pytest.fixture(scope="module")
def real_items(benchmarks_dir: Path) -> dict[str, list[BenchmarkItem]]:
    names = ["gsm8k", "math", "cmath", "mgsm_zh", "mmlu_stem", "sat", "ocw", "gaokao_mathqa", "gaokao_mathcloze"]
    out: dict[str, list[BenchmarkItem]] = {}
    for item in iter_benchmark_items(benchmarks_dir, names):
        if len(out.setdefault(item.benchmark, [])) < 5:
            out[item.benchmark].append(item)
    return out


def test_real_questions_get_the_papers_prompt(reference_dir: Path, real_items: dict[str, list[BenchmarkItem]]) -> None:
    config = json.loads((reference_dir / "few_shot_test_configs.json").read_text())
    classes = {cfg["few_shot_prompt"] for cfg in config.values()}
    for benchmark, (cot, pot) in PAPER_PROMPTS.items():  # every mapped prompt is one the paper's map uses
        for name in (cot, pot):
            if name is not None:
                source = (reference_dir / f"{name}.py").read_text()
                assert any(f"class {c}(" in source for c in classes), (benchmark, name)
    for benchmark, items in real_items.items():
        expected_file = PAPER_PROMPTS.get(benchmark, PAPER_PROMPTS["cmath"])[0]  # MGSM-zh: CMATH's prompt
        format_prompt, stop_words = reference_prompt(reference_dir / f"{expected_file}.py")
        for item in items:
            assert build_prompt(item, "cot") == format_prompt(harness_task_input(item), ""), item.item_id
            assert stop_sequences("cot", False, item) == stop_words
    gsm = real_items["gsm8k"][0]
    format_pal, pal_stops = reference_prompt(reference_dir / "pal_gsm_8_shot.py")
    assert build_prompt(gsm, "pot") == format_pal(gsm.question.strip(), "")
    assert stop_sequences("pot", False, gsm) == pal_stops


@pytest.mark.parametrize(("text", "answer"), [
    ("We have $(2)(12) = \\boxed{24}.$\nFinal Answer: The final answer is $24$. I hope it is correct.", "24"),
    ("so the product is 24.\nFinal Answer: The final answer is $24$. I hope it is correct.", "24"),
    ("Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.", "-\\frac{2}{3}"),
    ("Solving gives $x = \\frac{3}{4}$.", "\\frac{3}{4}"),
    ("So the answer is \\(\\frac34\\).", "\\frac34"),
    ("The answer is $x = \\frac{3}{4}$.", "\\frac{3}{4}"),
    ("Olivia had 23 dollars. 23 - 15 is 8. The answer is 8.", "8"),
    ("一共是2+1+1=5。所以答案是：5。", "5"),
    ("The class ends at 5:45.", "5:45"),
    ("The answer is 3.5.", "3.5"),
    ("The line is $y = 2x + 3$.", "y = 2x + 3"),
])
def test_answer_conventions_of_the_paper_prompts(text: str, answer: str) -> None:
    assert extract_answer(text) == answer


def test_choice_conventions() -> None:
    assert extract_choice("Final Answer: The final answer is (B). I hope it is correct.") == "B"
    assert extract_choice("答案是 C") == "C"


def test_asdiv_times_are_text(benchmarks_dir: Path) -> None:
    items = {i.answer: i for i in iter_benchmark_items(benchmarks_dir, ["asdiv"])}
    assert items["5:45"].answer_type == "text" and items["3:4"].answer_type == "number"


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxConfig(workers=2, cpu_time_s=5, wall_time_s=10)) as sandbox:
        yield sandbox


@pytest.mark.timeout(120)
def test_pal_exemplars_run_as_the_papers_harness_runs_them(pool: SandboxPool) -> None:
    """Each PAL exemplar's solution, given as a completion, yields the exemplar's answer."""
    gsm = load_prompt("pal_gsm_8_shot")
    completions = ["\n\n\n" + e.split("# solution in Python:", 1)[1].lstrip("\n") for e in gsm.exemplars or ()]
    answers = [a for a, _ in run_pot(completions, pool, program_format="pal_function")]
    assert answers == ["8", "33", "29", "9", "8", "39", "5", "6"]
    math = load_prompt("pal_math_4_shot")
    marker = "Express your answer as a numeric type or a SymPy object.\n"
    completions = [e.split(marker, 1)[1] for e in math.exemplars or ()]
    answers = [a for a, _ in run_pot(completions, pool, program_format="pal_answer")]
    # the third published exemplar assigns an undefined `n_value`: it fails as it would for the paper
    assert answers == ["\\frac{20}{3}", "24", None, "0.36328125", "17"]
    item = BenchmarkItem("gsm8k", "g", "Q?", "1", answer_type="number")
    assert pot_format(item, chat=False) == "pal_function" and pot_format(item, chat=True) == "markdown"
    assert paper_prompt_for(BenchmarkItem("math500", "m", "Q?", "1"), "pot").name == "pal_math_4_shot"

"""The URL annotation file: validation with one-line errors, matching in DuckDB, the starter file."""

import pytest
from test_stats import write_round  # pytest puts this folder on sys.path

from corpus.annotations import check_domains, load_annotations, matching_unselected, write_starter
from corpus.stats import build_stats, connect
from corpus.urls import url_parts
from mathforge.config import ConfigError


def write(tmp_path, text, name="urls.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ('["stackexchange.com"]\npaths = []\n', "'paths' must be a non-empty list of strings"),
    ('["stackexchange.com"]\npaths = "/questions/"\n', "'paths' must be a non-empty list of strings"),
    ('["stackexchange.com"]\npath = ["/q/"]\n', "unknown key 'path'"),
    ('["stackexchange.com"]\npaths = ["questions/"]\n', "must start with '/'"),
    ('["stackexchange.com"]\npaths = ["other.org/questions/"]\n', "must start with '/'"),
    ('["stackexchange.com"]\npaths = ["/a b"]\n', "has spaces"),
    ('["stackexchange.com"]\npaths = ["/q/"]\nnote = 3\n', "'note' must be a string"),
    ('["StackExchange.com"]\npaths = ["/q/"]\n', "lower-case registered domain"),
    ('"stackexchange.com" = ["/q/"]\n', "expected a table"),
    ('["stackexchange.com"\npaths = ["/q/"]\n', "not valid TOML"),
])
def test_bad_files_give_one_line_errors_naming_file_and_entry(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_annotations(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="annotation file not found"):
        load_annotations(tmp_path / "nope.toml")


def test_patterns_prefix_glob_and_host(tmp_path):
    anns = load_annotations(write(tmp_path, '["stackexchange.com"]\npaths = ["/questions/", "/wiki/*/math", '
                                            '"math.stackexchange.com/tags/*"]\nnote = "Q&A"\n'))
    assert [(a.glob, a.on_path, a.note) for a in anns] == [
        ("/questions/*", True, "Q&A"), ("/wiki/*/math", True, "Q&A"), ("math.stackexchange.com/tags/*", False, "Q&A")]


@pytest.fixture()
def run(tmp_path):
    """Round 1: stackexchange.com is math (math.* pages score high except under /questions/), example.com is not."""
    pages = []
    for i in range(40):
        for url, score in [(f"https://math.stackexchange.com/tags/t{i}/info", 0.9),
                           (f"https://math.stackexchange.com/questions/{i}/q", 0.9 if i < 5 else 0.1),
                           (f"https://gaming.stackexchange.com/questions/{i}/q", 0.1),
                           (f"https://www.example.com/questions/{i}/q", 0.1)]:
            host, domain, path = url_parts(url)
            pages.append({"id": f"{host}{path}", "url": url, "host": host, "domain": domain, "path": path, "round": 1,
                          "score": score, "tokens": 100})
    write_round(tmp_path, 1, pages)
    db = build_stats(tmp_path, {1: 0.5}, 0.10)
    return tmp_path, connect(db)


def test_matching_adds_unselected_pages_of_math_domains_only(run):
    root, con = run
    anns = load_annotations(write(root, '["stackexchange.com"]\npaths = ["math.stackexchange.com/questions/"]\n'
                                        '["example.com"]\npaths = ["/questions/"]\n'))
    check_domains(anns, con, "urls.toml")
    added = matching_unselected(con, anns, 1).to_pylist()
    assert len(added) == 35  # 40 math questions minus the 5 already selected; gaming.* and example.com not
    assert {r["domain"] for r in added} == {"stackexchange.com"}
    assert all(r["reason"] == "annotation stackexchange.com math.stackexchange.com/questions/" and r["round"] == 1
               for r in added)
    broad = matching_unselected(con, load_annotations(write(root, '["stackexchange.com"]\npaths = ["/questions/"]\n',
                                                            "b.toml")), 1).to_pylist()
    assert len(broad) == 75  # the path pattern covers gaming.stackexchange.com too


def test_unknown_domain_is_a_one_line_error(run):
    root, con = run
    anns = load_annotations(write(root, '["mathoverfloww.net"]\npaths = ["/questions/"]\n'))
    with pytest.raises(ConfigError, match="unknown domain") as err:
        check_domains(anns, con, "urls.toml")
    assert "mathoverfloww.net" in str(err.value) and "\n" not in str(err.value)


def test_starter_file_lists_math_domains_and_loads_back(run):
    root, con = run
    n = write_starter(con, 1, root / "starter.toml", min_fraction=0.5)
    assert n == 1
    text = (root / "starter.toml").read_text()
    assert '["stackexchange.com"]' in text and "example.com" not in text
    anns = load_annotations(root / "starter.toml")
    assert {a.pattern for a in anns} == {"/tags/"}  # /questions/ (0.06 selected) is left commented for the person
    assert '# "/questions/"' in text

"""Formula markup -> LaTeX: MathML elements (Resiliparse DOM nodes) and AsciiMath strings.

MathML (mathml_to_latex), element by element:
  msup {a}^{b} · msub {a}_{b} · msubsup / munderover {a}_{b}^{c} · munder {a}_{b} · mover {a}^{b}
  mfrac \\frac{a}{b} · msqrt \\sqrt{…} · mroot \\sqrt[b]{a} · mfenced (…) · mtable \\begin{matrix}…\\end{matrix}
  mi/mn/mtext/ms their text (Greek letters -> \\alpha …) · mo through MATHML_OPERATORS · others: children.
AsciiMath (asciimath_to_latex), MathJax's default `` `…` `` input: symbols through ASCIIMATH_SYMBOLS,
  a/b -> \\frac{a}{b}, x^(n+1) -> x^{n+1}, sqrt x -> \\sqrt{x}, root(n)(x) -> \\sqrt[n]{x}; the brackets
  around a fraction's, power's or root's operand are dropped (AsciiMath's own rule).
"""

from __future__ import annotations

import re

# MathML operator characters -> LaTeX commands (a trailing space keeps `\times b` from reading `\timesb`).
MATHML_OPERATORS = {"×": r"\times ", "≤": r"\leq ", "≥": r"\geq ", "∑": r"\sum ", "∫": r"\int ", "π": r"\pi ",
                    "·": r"\cdot ", "−": "-", "∞": r"\infty ", "≠": r"\neq ", "±": r"\pm ", "→": r"\to ",
                    "∈": r"\in ", "∀": r"\forall ", "∃": r"\exists ", "∂": r"\partial ", "∇": r"\nabla ",
                    "⋅": r"\cdot ", "∏": r"\prod ", "≈": r"\approx ", "⇒": r"\Rightarrow ", "⁡": "", "⁢": ""}
GREEK = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau " \
        "upsilon phi chi psi omega".split()
GREEK_LETTERS = {chr(0x3B1 + i + (1 if i >= 17 else 0)): f"\\{name} " for i, name in enumerate(GREEK)
                 if name != "omicron"}


def mathml_to_latex(node) -> str:
    """LaTeX for a MathML element (rules in the module docstring)."""
    tag = node.tag
    if tag in ("annotation", "annotation-xml"):
        return ""
    if tag in ("mi", "mn", "mtext", "ms"):
        text = node.text.strip()
        return GREEK_LETTERS.get(text, text) if tag == "mi" and len(text) == 1 else text
    if tag == "mo":
        op = node.text.strip()
        return MATHML_OPERATORS.get(op, op)
    if tag == "mspace":
        return " "
    kids = [c for c in node.child_nodes if c.type == 1]  # element children only
    if tag == "semantics" and kids:
        return mathml_to_latex(kids[0])
    parts = [mathml_to_latex(k) for k in kids]
    two = {"msup": "{{{0}}}^{{{1}}}", "msub": "{{{0}}}_{{{1}}}", "munder": "{{{0}}}_{{{1}}}", "mover": "{{{0}}}^{{{1}}}",
           "mfrac": "\\frac{{{0}}}{{{1}}}", "mroot": "\\sqrt[{1}]{{{0}}}"}
    if tag in two and len(parts) == 2:
        return two[tag].format(*parts)
    if tag in ("msubsup", "munderover") and len(parts) == 3:
        return f"{{{parts[0]}}}_{{{parts[1]}}}^{{{parts[2]}}}"
    if tag == "msqrt":
        return rf"\sqrt{{{''.join(parts)}}}"
    if tag == "mfenced":
        return (node.getattr("open") or "(") + (node.getattr("separators") or ",").join(parts) + (node.getattr("close") or ")")
    if tag == "mtable":
        return r"\begin{matrix}" + r" \\ ".join(parts) + r"\end{matrix}"
    if tag == "mtr":
        return " & ".join(parts)
    return "".join(parts)


ASCIIMATH_SYMBOLS = {
    "<=": r"\le", ">=": r"\ge", "!=": r"\ne", "+-": r"\pm", "xx": r"\times", "**": r"\ast", "*": r"\cdot",
    "-:": r"\div", "->": r"\to", "=>": r"\Rightarrow", "<=>": r"\Leftrightarrow", "oo": r"\infty", "sum": r"\sum",
    "prod": r"\prod", "int": r"\int", "oint": r"\oint", "lim": r"\lim", "del": r"\partial", "grad": r"\nabla",
    "in": r"\in", "!in": r"\notin", "sub": r"\subset", "sube": r"\subseteq", "uu": r"\cup", "nn": r"\cap",
    "AA": r"\forall", "EE": r"\exists", "~~": r"\approx", "-=": r"\equiv", "...": r"\ldots", "cdots": r"\cdots",
    "RR": r"\mathbb{R}", "NN": r"\mathbb{N}", "ZZ": r"\mathbb{Z}", "QQ": r"\mathbb{Q}", "CC": r"\mathbb{C}",
    "sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "log": r"\log", "ln": r"\ln", "exp": r"\exp",
    "max": r"\max", "min": r"\min", "deg": r"^\circ", **{g: f"\\{g}" for g in GREEK if g != "omicron"},
}
ASCIIMATH_UNARY = {"sqrt": r"\sqrt", "hat": r"\hat", "bar": r"\overline", "vec": r"\vec", "abs": "abs",
                   "text": r"\text"}
_AM_TOKEN_RE = re.compile("|".join(sorted((re.escape(s) for s in [*ASCIIMATH_SYMBOLS, *ASCIIMATH_UNARY, "root", "frac"]),
                                          key=len, reverse=True)) + r"|\d+(?:\.\d+)?|[A-Za-z]|\S")
_OPEN, _CLOSE = "([{", ")]}"
_COMMAND_END_RE = re.compile(r"\\[A-Za-z]+$")


def _join(parts: list[str]) -> str:
    """Concatenate LaTeX pieces, with a space only where a command would run into a letter (`\\le x`)."""
    out = ""
    for p in parts:
        if p and out and p[0].isalpha() and _COMMAND_END_RE.search(out):
            out += " "
        out += p
    return out


def _am_tokens(s: str) -> list[str]:
    return _AM_TOKEN_RE.findall(s)


class _AsciiMath:
    def __init__(self, tokens: list[str]):
        self.t, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self) -> str:
        self.i += 1
        return self.t[self.i - 1]

    def expr(self, stop: str | None = None) -> str:
        out = []
        while (tok := self.peek()) is not None and tok != stop and not (stop is None and tok in _CLOSE):
            out.append(self.intermediate())
        return _join(out)

    def intermediate(self) -> str:
        left, bare_left = self.simple()
        if self.peek() == "/":
            self.take()
            right, bare_right = self.simple()
            return rf"\frac{{{bare_left}}}{{{bare_right}}}"
        return left

    def simple(self) -> tuple[str, str]:
        """(LaTeX, LaTeX without the outer brackets) of an atom with its optional _ and ^ scripts."""
        text, bare = self.atom()
        for mark in ("_", "^"):
            if self.peek() == mark:
                self.take()
                _, script = self.atom()
                text = bare = f"{text}{mark}{{{script}}}"
        return text, bare

    def atom(self) -> tuple[str, str]:
        tok = self.take() if self.peek() is not None else ""
        if tok in _OPEN:
            close = _CLOSE[_OPEN.index(tok)]
            inner = self.expr(stop=close)
            if self.peek() == close:
                self.take()
            left, right = (r"\{", r"\}") if tok == "{" else (tok, close)
            return f"{left}{inner}{right}", inner
        if tok == "root":
            _, n = self.atom()
            _, x = self.atom()
            return rf"\sqrt[{n}]{{{x}}}", rf"\sqrt[{n}]{{{x}}}"
        if tok == "frac":
            _, a = self.atom()
            _, b = self.atom()
            return rf"\frac{{{a}}}{{{b}}}", rf"\frac{{{a}}}{{{b}}}"
        if tok in ASCIIMATH_UNARY:
            _, arg = self.atom()
            out = rf"\left|{arg}\right|" if tok == "abs" else f"{ASCIIMATH_UNARY[tok]}{{{arg}}}"
            return out, out
        out = ASCIIMATH_SYMBOLS.get(tok, tok)
        return out, out


def asciimath_to_latex(s: str) -> str:
    """LaTeX for an AsciiMath formula (rules in the module docstring)."""
    parser = _AsciiMath(_am_tokens(s))
    parts = []
    while parser.peek() is not None:
        parts.append(parser.expr())
        if parser.peek() is not None:  # an unmatched closing bracket: keep it and go on
            parts.append(parser.take())
    return _join(parts)

"""The book's prose names no configuration value that the registry does not use.

The book promises that every number in its text is pasted in from the registry or the results,
never typed. This module reads every chapter (``book/*.md`` and the markdown cells of every
``book/notebooks/*.md``) and finds numbers tied to a configuration word:

- widths: "N units", "N ReLUs", "N-unit", "layers of N"; depths: "N (hidden) layers";
  architectures "D x W" / "D × W"; squares "N × N" (grid, window or image sides of the locally
  connected layers, or the image's); "D x W" followed by "pixels", "grid", "patch", "image" is no net;
  "stride N", "N pixels apart";
- epochs: "N epochs", "N-epoch", and "half / a third / a quarter ... of the epochs";
- data: "N training / evaluation / validation / test images" (or examples), "N training and ...",
  and bare "N images" from 100 upwards (smaller counts describe figures, not data);
- "learning rate N", "lr N", "weight decay N", "minibatches of N", "batch size N", "threshold N",
  "smoothing N", "momentum N", "peer normalisation (strength) N", "strength N", "label strength N",
  "neutral label / value N", "N in each label pixel", "blurred N times".

Numbers may be digits ("2,000", "0.001", "1e-3") or words ("two"). Each is checked against the
values the registry uses for that field (:func:`ffrepro.facts.config_values`), over all experiments;
where a sentence names a profile (`cpu`, "smoke profile", ``PROFILE=smoke``), against that profile's
values only (plus the paper profile's when the sentence also mentions the paper).

Skipped: display math (``$$ ... $$``), inline math other than a bare number or ``symbol = number``
(which is read as the number, so "weight decay $\\lambda = 0.001$" is checked), every role such as
``{glue:text}`key:d``` (a glued value is the registry's by construction), code spans and fenced code.

What it cannot see: a number it has no pattern for ("the first 10 label pixels", timings); a value
that is the registry's for another experiment than the one the sentence means (layers of 500 units
are right for `mnist-bp` and wrong for `mnist-ff-supervised`, and the check does not know which entry
a sentence is about); a wrong word ("uniform" for "hard" negatives).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ffrepro import facts
from ffrepro.book import read_source, sources
from ffrepro.config import PROFILES
from ffrepro.registry import EXPERIMENTS
from ffrepro.results import REPO_ROOT

BOOK = REPO_ROOT / "book"

WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "hundred": 100,
}
FRACTIONS = {
    "all": 1.0, "half": 1 / 2, "a third": 1 / 3, "two thirds": 2 / 3, "a quarter": 1 / 4,
    "three quarters": 3 / 4, "a fifth": 1 / 5, "a tenth": 1 / 10,
}
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e-?\d+)?|\.\d+|" + "|".join(WORDS) + r")"
N = rf"(?<![\w.,])(?P<n>{_NUM})(?![\w]|[.,]\d)"
SEP = r"\s*(?:of|is|=|:|,)?\s*"
NOT_ARCH = r"\s*-?\s*(?:pixels?|grids?|squares?|patch|patches|windows?|receptive|images?|maps?|locations?|kernels?|filters?)"

PATTERNS: list[tuple[str, str]] = [
    ("width", rf"{N}(?:\s+|-)(?:hidden\s+|ReLU\s+)?(?:units?|ReLUs|neurons)\b"),
    ("width", rf"\blayers\s+of\s+{N}"),
    ("depth", rf"{N}\s+(?:(?:hidden|fully[- ]connected|locally[- ]connected|ReLU|dense|FF)\s+)*layers\b"),
    ("arch", rf"(?<![\w.,])(?P<d>\d+)\s*(?:x|×|\\times)\s*(?P<w>\d{{1,3}}(?:,\d{{3}})+|\d+)(?![\w.,]*\d)(?P<rest>{NOT_ARCH})?"),
    ("epochs", rf"{N}(?:\s+|-)(?:more\s+|training\s+|readout\s+)?epochs?\b"),
    ("epoch_fraction", r"\b(?P<n>" + "|".join(FRACTIONS) + r")\s+(?:of\s+)?(?:the\s+)?(?:paper's\s+)?epochs\b"),
    ("examples", rf"{N}\s+(?:(?:official|MNIST|held-out)\s+)*(?:training|evaluation|validation|test)\s+(?:images|examples|and|or)\b"),
    ("examples_bare", rf"{N}\s+(?:(?:official|MNIST)\s+)*(?:images|examples)\b"),
    ("lr", rf"(?:learning rate|\blr){SEP}{N}"),
    ("weight_decay", rf"weight decay{SEP}{N}"),
    ("batch_size", rf"\b(?:mini-?)?batch(?:es)?\s+of\s+{N}"),
    ("batch_size", rf"batch size{SEP}{N}"),
    ("threshold", rf"threshold{SEP}{N}"),
    ("smoothing", rf"smoothing(?:\s+factor)?{SEP}{N}"),
    ("momentum", rf"momentum{SEP}{N}"),
    ("peer_normalization", rf"peer[- ]normali[sz]ation(?:\s+strength)?{SEP}{N}"),
    ("peer_normalization", rf"(?<!label )\bstrength{SEP}{N}"),
    ("label_strength", rf"label strength{SEP}{N}"),
    ("neutral_label", rf"neutral (?:label|value){SEP}{N}"),
    ("neutral_label", rf"{N}\s+in\s+(?:each|every|all)\s+(?:of\s+the\s+)?(?:\d+\s+)?label\s+pixels?"),
    ("stride", rf"\bstride(?:\s+of)?\s+{N}"),
    ("stride", rf"{N}\s+pixels\s+apart"),
    ("blur_steps", rf"blurred\s+{N}\s+times"),
    ("blur_steps", rf"{N}\s+blur(?:ring)?\s+steps"),
]
PATTERNS_RE = [(field, re.compile(rx, re.IGNORECASE)) for field, rx in PATTERNS]

PROFILE_RE = re.compile(r"`(smoke|cpu|paper)`|\b(smoke|cpu|paper)\s+profiles?\b|PROFILE=(smoke|cpu|paper)|\b(smoke)\b", re.I)


@dataclass(frozen=True)
class Finding:
    field: str
    value: float
    snippet: str
    allowed: tuple[float, ...]


def number(text: str) -> float:
    t = text.lower().replace(",", "")
    return float(WORDS[t]) if t in WORDS else float(FRACTIONS[t]) if t in FRACTIONS else float(t)


def prose(markdown: str) -> str:
    """``markdown`` without code, display math, roles and non-numeric inline math."""
    text = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)
    text = re.sub(r"^(```+|~~~+).*?^\1\s*$", " ", text, flags=re.S | re.M)  # fenced code and directives
    text = re.sub(r"\$\$.*?\$\$", " MATH ", text, flags=re.S)
    text = re.sub(r"\{[\w:.-]+\}`[^`]*`", " ROLE ", text)  # {glue:text}`key:d`, {doc}`...`, {ref}`...`
    simple = rf"\$\s*(?:\\?[A-Za-z]+(?:_\{{?\w+\}}?)?\s*=\s*)?({_NUM})\s*\$"
    text = re.sub(simple, r"\1", text)  # "$0.9$", "$\lambda = 0.001$" -> the number
    return re.sub(r"\$[^$\n]+\$", " MATH ", text)


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+|\n\s*\n|\n(?=\s*(?:[-*]|\d+\.)\s)", text) if s.strip()]


def check(markdown: str, values: dict[str, dict[str, set[float]]], everything: bool = False) -> list[Finding]:
    """The configuration values ``markdown`` names that the registry does not use (with
    ``everything``, all typed configuration values it names, the registry's too)."""
    findings = []
    for sentence in sentences(prose(markdown)):
        named = {next(g for g in m.groups() if g).lower() for m in PROFILE_RE.finditer(sentence)}
        if named and re.search(r"\bpaper", sentence, re.I):
            named.add("paper")
        scopes = sorted(named) or ["any"]
        flat = re.sub(r"`[^`]*`", lambda m: re.sub(r"\d", "#", m.group()), sentence)  # no numbers in code
        flat = re.sub(r"\s+", " ", flat)
        seen: set[tuple[str, int]] = set()
        for field, rx in PATTERNS_RE:
            for m in rx.finditer(flat):
                if field == "arch" and number(m.group("d")) == number(m.group("w")):  # a square: grid, window, image
                    pairs = [("map", m.group("d"), m.start("d"))]
                elif field == "arch" and m.group("rest"):  # "3 x 5 pixels": not a net
                    continue
                elif field == "arch":
                    pairs = [("depth", m.group("d"), m.start("d")), ("width", m.group("w"), m.start("w"))]
                else:
                    pairs = [(field, m.group("n"), m.start("n"))]
                for f, raw, pos in pairs:
                    value = number(raw)
                    if f == "examples_bare":
                        if value < 100:
                            continue
                        f = "examples"
                    if (f, pos) in seen:
                        continue
                    seen.add((f, pos))
                    allowed = set().union(*(values[f].get(s, set()) for s in scopes))
                    if everything or not any(abs(value - a) <= 1e-9 * max(1.0, abs(a)) for a in allowed):
                        snippet = flat[max(0, m.start() - 60): m.end() + 20].strip()
                        findings.append(Finding(f, value, snippet, tuple(sorted(allowed))))
    return findings


def chapters() -> dict[str, str]:
    """Markdown of every chapter: ``book/*.md`` and the markdown cells of ``book/notebooks/*.md``."""
    pages = {p.relative_to(REPO_ROOT).as_posix(): p.read_text() for p in sorted(BOOK.glob("*.md"))}
    for nb in sources(BOOK):
        cells = read_source(nb)["cells"]
        pages[nb.relative_to(REPO_ROOT).as_posix()] = "\n\n".join(
            c["source"] for c in cells if c["cell_type"] == "markdown"
        )
    return pages


def report(findings: list[Finding]) -> str:
    return "\n".join(
        f"  {f.field} {f.value:g} in '...{f.snippet}...'; the registry uses {', '.join(f'{a:g}' for a in f.allowed)}"
        for f in findings
    )


VALUES = facts.config_values()
PAGES = chapters()


@pytest.mark.parametrize("page", sorted(PAGES))
def test_chapter_names_only_registry_values(page: str) -> None:
    findings = check(PAGES[page], VALUES)
    assert not findings, f"{page} types configuration values the registry does not use " \
        f"(glue them from ffrepro.facts instead):\n{report(findings)}"


def test_checker_flags_stale_profile_text() -> None:
    stale = "The cpu profile uses layers of 500 units and 7 epochs on 2,000 images."
    flagged = {(f.field, f.value) for f in check(stale, VALUES)}
    assert {("epochs", 7), ("examples", 2000)} <= flagged
    # The sentence ff-intro.md used to carry: four stale values.
    old = "`smoke` uses layers of 64 units and two epochs on 2,000 training and 1,000 evaluation images."
    flagged = {(f.field, f.value) for f in check(old, VALUES)}
    # two epochs on 2,000 training images became CIFAR-10's smoke scale, and 1,000 evaluated images its
    # BP nets' smoke scale: one of the four values is stale now
    assert flagged == {("width", 64)}
    assert {(f.field, f.value) for f in check("`smoke` evaluates 700 images.", VALUES)} == {("examples", 700)}
    assert check("Adam with learning rate $\\varepsilon = 0.5$ and minibatches of 64.", VALUES)
    assert {f.field for f in check("a net of 3 x 777 trained with weight decay 0.2", VALUES)} == {"width", "weight_decay"}
    assert [(f.field, f.value) for f in check("a 5 × 5 grid of locations with 128 units each", VALUES)] == [("map", 5)]


def test_checker_passes_registry_values() -> None:
    smoke = EXPERIMENTS[facts.SUPERVISED].config("smoke")
    good = (
        f"The smoke profile uses layers of {smoke.model.hidden[0]} units and {smoke.optim.epochs} epochs on "
        f"{smoke.data.train_examples:,} training images. The paper's net is "
        f"{len(EXPERIMENTS[facts.SUPERVISED].paper_config.model.hidden)} x "
        f"{EXPERIMENTS[facts.SUPERVISED].paper_config.model.hidden[0]}, "
        f"{EXPERIMENTS[facts.SUPERVISED].paper_config.optim.epochs} epochs, minibatches of {smoke.data.batch_size}."
    )
    assert check(good, VALUES) == []


def test_checker_skips_math_roles_and_figures() -> None:
    text = (
        "$$ g \\leftarrow 0.7\\, g + 0.3 \\nabla L, \\quad 5 \\text{ epochs} $$\n\n"
        "It trains for {glue:text}`smoke-epochs:d` epochs on a $7 \\times 7$ map, a 4x4 grid of "
        "10x10-pixel fields, 28 x 28 pixels, shown on two images. `--epochs 7 epochs`"
    )
    assert check(text, VALUES) == []


def test_profile_scope() -> None:
    paper = EXPERIMENTS[facts.SUPERVISED].paper_config.optim.epochs
    assert check(f"the paper trains for {paper} epochs", VALUES) == []
    assert [f.value for f in check(f"the `smoke` profile trains for {paper} epochs", VALUES)] == [paper]
    assert check(f"`smoke` trains for a few epochs, the paper's net for {paper} epochs", VALUES) == []


def test_facts_agree_with_the_registry() -> None:
    f = facts.config_facts()
    for e in EXPERIMENTS.values():
        for profile in PROFILES:
            c = e.config(profile)
            local = bool(getattr(c.model, "local", ()))
            assert f[f"{e.id}-{profile}-hidden"] == facts.hidden_text(c.model.hidden, local)
            assert f[f"{e.id}-{profile}-epochs"] == c.optim.epochs
            assert f[f"{e.id}-{profile}-train-examples"] == (c.data.train_examples or {"mnist": 50_000, "cifar10": 45_000}[c.data.dataset])
            assert f[f"{e.id}-{profile}-eval-examples"] == (c.data.eval_examples or 10_000)
            if profile == "smoke" and profile not in e.scales:  # the default rule; a scaled entry states its own
                if not local:
                    assert c.model.hidden == (f["smoke-width"],) * len(c.model.hidden)
                assert c.optim.epochs == f["smoke-epochs"]
                assert c.data.train_examples == f["smoke-train-examples"]
                assert c.data.eval_examples == f["smoke-eval-examples"]
            assert c.data.batch_size == f["batch-size"]
        if e.paper_config.method == "ff-supervised":
            assert f[f"{e.id}-negatives"] == e.paper_config.model.negative_labels
            assert e.id in f[f"{e.paper_config.model.negative_labels}-negatives"].split(", ")
    sup, hard = EXPERIMENTS[facts.SUPERVISED].paper_config, EXPERIMENTS[facts.HARD].paper_config
    assert sup.model.negative_labels == "uniform" and hard.model.negative_labels == "hard"
    assert f["hard-epochs"] == hard.optim.epochs and f["ff-epochs"] == sup.optim.epochs
    assert sup.model.hidden == (f["ff-width"],) * f["ff-depth"]
    bp = EXPERIMENTS[facts.BP].paper_config
    assert bp.model.hidden == (f["bp-width"],) * f["bp-depth"] and f["bp-epochs"] == bp.optim.epochs
    assert (f["ff-lr"], f["bp-lr"]) == (sup.optim.lr, bp.optim.lr)
    assert f["label-step"] == pytest.approx(sup.model.label_strength - sup.model.neutral_label)
    table = facts.profile_table()
    assert len(table) == 3 * len(EXPERIMENTS)
    assert table.loc[(facts.SUPERVISED, "smoke"), "epochs"] == EXPERIMENTS[facts.SUPERVISED].config("smoke").optim.epochs


def test_fraction_words() -> None:
    assert [facts.fraction_words(x) for x in (1, 1 / 2, 1 / 3, 1 / 4, 0.3)] == ["all", "half", "a third", "a quarter", "3/10"]


def test_ff_intro_glues_only_known_facts() -> None:
    """Every {glue:text} key of ff-intro is a fact (or the profile): a typo fails here, not at build time."""
    page = PAGES["book/notebooks/ff-intro.md"]
    keys = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", page))
    assert keys, "ff-intro glues no facts"
    assert keys <= set(facts.config_facts()) | {"profile"}, keys - set(facts.config_facts())


def test_the_intro_words_agree_with_the_facts_it_glues() -> None:
    """ff-intro says in words that inference leaves out the first layer and that the MNIST experiments
    maximise the sum of squares on positive data; if the registry changes either, its text must too."""
    f = facts.config_facts()
    text = "".join(c["source"] for c in read_source(REPO_ROOT / "book" / "notebooks" / "ff-intro.md")["cells"])
    assert "and leave out the first (`model.first_scored_layer`)" in text and f["first-scored-layer"] == 2
    assert 'the MNIST experiments use\n{glue:text}`goodness`' in text and f["goodness"] == "max ssq"

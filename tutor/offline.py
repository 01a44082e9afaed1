"""The tutor without an API key: BM25 over the current lesson's sections, quoted back verbatim."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from course.lessons import Heading, Lesson
from tutor.attempts import lesson_for_tutor

LABEL = (
    "**Offline tutor** · no API key is set, so instead of Claude you get the passage of this "
    "lesson that best matches your question."
)
K1 = 1.5
B = 0.75
HEADING_BOOST = 3.0  # times the term's idf, for each query term the heading contains
PARENT_BOOST = 1.0  # the same, for the heading of a ### section's ## parent
CODE_WEIGHT = 0.25  # a term in a code block says less about what a section explains
PASSAGE_WORDS = 150
PASSAGE_CHARS = 1100  # with the label and the link, a reply stays under about 1,500 characters

# Learners' words for what the lessons call something else: each adds the lesson's terms to the
# query (tests/data/offline_questions.yaml measures what this buys).
LEARNER_WORDS = {
    "long": "lifetime ttl expire",
    "last": "lifetime",
    "expire": "lifetime ttl",
    "cheap": "cost price",
    "cheaper": "cost price",
    "expensive": "cost price",
    "pay": "cost billed",
    "price": "cost",
    "remember": "stateless history",
    "previous": "stateless history",
    "pick": "choose",
    "choose": "choosing",
    "bypass": "security boundary",
    "around": "security boundary",
    "jailbreak": "security boundary",
    "continue": "prefill",
    "continues": "prefill",
    "middle": "stop_reason max_tokens",
    "cut": "stop_reason max_tokens",
    "found": "retired deprecation",
    "hard-code": "configuration environment",
    "hardcode": "configuration environment",
    "left": "remaining header",
    "switch": "turning",
    "enable": "turning",
    "halfway": "mid-stream middle",
    "used": "usage",
    "use": "usage",
    "short": "minimum length",
    "small": "minimum length",
    "myself": "automatic",
    "change": "breaks prefix",
    "control": "knobs",
    "now": "instead",
    "order": "sequence complete",
    "words": "text_stream",
    "arrive": "text_stream",
}

# A word list reads better as prose than as a 75-line literal.
STOPWORDS = frozenset(
    "a about after all also am an and any are as at be been but by can could did do does for from "  # noqa: SIM905
    "get got had has have how i if in into is it its just me my no of on or our so should than "
    "that the their them then there these they this those to too up was we were what when where "
    "which who why will with would you your".split()
)
# Identifiers such as max_tokens, stop_reason and retry-after stay one word.
WORD_RE = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)*")
HEADING_RE = re.compile(r"^(#{2,3})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
LINK_TARGET_RE = re.compile(r"\]\([^)\s]*\)")  # URLs are not what the prose is about


@dataclass(frozen=True)
class Block:
    text: str  # a paragraph, list, table or whole fenced code block
    terms: Counter[str]


@dataclass(frozen=True)
class Section:
    heading: str  # as written in the Markdown
    link: str | None  # to the heading on the lesson page, when the page has an anchor for it
    blocks: tuple[Block, ...]
    terms: Counter[str]
    heading_terms: frozenset[str]
    parent_terms: frozenset[str]  # the ## heading above a ### one


@dataclass(frozen=True)
class Index:
    sections: tuple[Section, ...]
    idf: dict[str, float]
    average_length: float


def _stem(word: str) -> str:
    # Light and symmetric: "caches", "cached", "caching" and "cache" all become "cach".
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + replacement
            if suffix in {"ing", "ed"} and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "stopped" -> "stop"
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def _words(text: str) -> list[str]:
    return WORD_RE.findall(LINK_TARGET_RE.sub("]", text.lower()))


def _terms(text: str) -> list[str]:
    terms: list[str] = []
    for word in _words(text):
        parts = re.split(r"[_-]", word)
        if len(parts) > 1:
            # The identifier itself (rare, so it scores high) and its parts, so "stop reason"
            # still finds stop_reason.
            terms.append("_".join(_stem(part) for part in parts))
            terms += [_stem(part) for part in parts if part not in STOPWORDS]
        elif word not in STOPWORDS:
            terms.append(_stem(word))
    return terms


def _heading_terms(text: str) -> frozenset[str]:
    stems = [_stem(word) for word in _words(text)]
    # "Context window and max tokens" should also answer to max_tokens.
    return frozenset(_terms(text)) | {f"{a}_{b}" for a, b in zip(stems, stems[1:], strict=False)}


def _in_code(lines: list[str]) -> list[bool]:
    """Flag the lines of fenced code blocks, fences included: a "#" there is not a heading."""
    flags: list[bool] = []
    fence = ""
    for line in lines:
        opening = FENCE_RE.match(line)
        flags.append(bool(fence or opening))
        if fence and set(line.strip()) == {fence[0]} and len(line.strip()) >= len(fence):
            fence = ""
        elif not fence and opening:
            fence = opening.group(1)
    return flags


def _split(source: str) -> list[tuple[str | None, str | None, list[str]]]:
    """Split the body into (heading, parent, lines) at ## and ### headings; None heads the
    preamble, and a ## heading has no parent."""
    lines = source.splitlines()
    sections: list[tuple[str | None, str | None, list[str]]] = [(None, None, [])]
    parent = None
    for line, code in zip(lines, _in_code(lines), strict=True):
        heading = None if code else HEADING_RE.match(line)
        if heading:
            top = len(heading.group(1)) == 2
            sections.append((heading.group(2), None if top else parent, []))
            parent = heading.group(2) if top else parent
        else:
            sections[-1][2].append(line)
    return sections if any(line.strip() for line in sections[0][2]) else sections[1:]


def _blocks(lines: list[str]) -> list[str]:
    """Paragraphs, lists and tables split at blank lines; each fenced code block kept whole."""
    code = _in_code(lines)
    blocks: list[list[str]] = [[]]
    for line, is_code, was_code in zip(lines, code, [False, *code], strict=False):
        if is_code != was_code or not (is_code or line.strip()):
            blocks.append([])
        if is_code or line.strip():
            blocks[-1].append(line)
    return ["\n".join(block) for block in blocks if block]


@lru_cache(maxsize=32)
def _index(title: str, source: str, toc: tuple[Heading, ...]) -> Index:
    anchors: dict[str, list[Heading]] = {}
    for entry in toc:
        anchors.setdefault(" ".join(_words(entry.text)), []).append(entry)
    sections = []
    for heading, parent, lines in _split(source):
        # Pop, so that two headings with the same text get their own anchors, in page order.
        matches = anchors.get(" ".join(_words(heading)), []) if heading else []
        entry = matches.pop(0) if matches else None
        text = heading or title
        blocks = tuple(Block(block, Counter(_terms(block))) for block in _blocks(lines))
        terms = Counter(_terms(text))
        for block in blocks:
            weight = CODE_WEIGHT if FENCE_RE.match(block.text) else 1.0
            terms.update({term: n * weight for term, n in block.terms.items()})
        sections.append(
            Section(
                heading=text,
                link=entry and f"[Read “{entry.text.strip()}” in the lesson](#{entry.anchor})",
                blocks=blocks,
                terms=terms,
                heading_terms=_heading_terms(text),
                parent_terms=_heading_terms(parent) if parent else frozenset(),
            )
        )
    found = Counter(term for s in sections for term in set(s.terms) | s.heading_terms)
    count = len(sections)
    idf = {term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in found.items()}
    average = sum(s.terms.total() for s in sections) / max(count, 1)
    return Index(tuple(sections), idf, average or 1.0)


def _score(section: Section, query: list[str], index: Index) -> float:
    norm = K1 * (1 - B + B * section.terms.total() / index.average_length)
    score = 0.0
    for term in query:
        tf = section.terms[term]
        score += index.idf.get(term, 0.0) * tf * (K1 + 1) / (tf + norm)
        if term in section.heading_terms:
            score += HEADING_BOOST * index.idf.get(term, 0.0)
        elif term in section.parent_terms:
            score += PARENT_BOOST * index.idf.get(term, 0.0)
    return score


def _query(question: str) -> list[str]:
    """The question's terms, then the lesson's words for the learner's own (LEARNER_WORDS)."""
    words = _words(question)
    extra = " ".join(LEARNER_WORDS[w] for w in words if w in LEARNER_WORDS)
    if any(re.fullmatch(r"[45]\d\d", w) for w in words):
        extra += " status codes"  # "a 529", "got a 429": the lesson's table of status codes
    return list(dict.fromkeys(_terms(question) + _terms(extra)))


def _passage(section: Section, query: list[str], idf: dict[str, float]) -> str:
    """The section's best-matching blocks, in lesson order, within the word budget."""
    scores = [
        sum(idf.get(term, 0.0) * tf / (tf + 1) for term in query if (tf := block.terms[term]))
        for block in section.blocks
    ]
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    if scores[ranked[0]] > 0:
        ranked = [i for i in ranked if scores[i] > 0]
    chosen: list[int] = []
    words = chars = 0
    for i in ranked:
        text = section.blocks[i].text
        if not chosen or (
            words + len(text.split()) <= PASSAGE_WORDS and chars + len(text) <= PASSAGE_CHARS
        ):
            chosen.append(i)
            words += len(text.split())
            chars += len(text)
    parts: list[str] = []
    for previous, i in zip([-1, *sorted(chosen)], sorted(chosen), strict=False):
        text = _shorten(section.blocks[i].text, query)
        parts += ["…", text] if i > previous + 1 else [text]
    return "\n\n".join(parts + (["…"] if max(chosen) < len(section.blocks) - 1 else []))


def _shorten(block: str, query: list[str]) -> str:
    """A block longer than the passage's budget, cut at a line and marked; code stays fenced,
    and a table keeps its header and the rows that match the question."""
    if len(block) <= PASSAGE_CHARS:
        return block
    lines, kept = block.splitlines(), []
    if lines[0].startswith("|"):
        rows = [line for line in lines[2:] if set(_terms(line)) & set(query)]
        lines = lines[:2] + (rows or lines[2:])
    for line in lines:
        if sum(len(k) + 1 for k in kept) + len(line) > PASSAGE_CHARS - 40:
            break
        kept.append(line)
    fence = FENCE_RE.match(lines[0])
    if fence:
        return "\n".join([*kept, "…", fence.group(1)])
    return "\n".join(kept) + " …"


def _browse(lesson: Lesson, question: str) -> str:
    if question.strip():
        lead = f"“{lesson.title}” doesn't seem to cover that. Try the words the lesson uses,"
    else:
        lead = "Ask about anything in this lesson and I'll find the passages that cover it,"
    sections = [f"- [{h.text.strip()}](#{h.anchor})" for h in lesson.toc if h.level == 2]
    return "\n\n".join([LABEL, f"{lead} or browse its sections:", "\n".join(sections)]) + "\n"


def answer(lesson: Lesson, question: str, *, limit: int = 1) -> str:
    index = _index(lesson.title, lesson_for_tutor(lesson, summaries=False), lesson.toc)
    query = _query(question)
    scored = [(_score(s, query, index), n, s) for n, s in enumerate(index.sections) if s.blocks]
    best = [(score, s) for score, _, s in sorted(scored, key=lambda x: (-x[0], x[1])) if score > 0]
    if not best:
        return _browse(lesson, question)
    parts = [LABEL]
    for _, section in best[:limit]:
        # ###: under the panel's "Lesson tutor" (h2), in the order axe checks.
        parts += [f"### {section.heading}", _passage(section, query, index.idf)]
        parts += [section.link] if section.link else []
    return "\n\n".join(parts) + "\n"


def chunks(text: str) -> list[str]:
    """Split a reply into words with their trailing whitespace, to stream like model tokens."""
    return re.findall(r"\s+|\S+\s*", text)

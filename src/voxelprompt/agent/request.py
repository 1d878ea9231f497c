"""Reading a plain-language request: which measurements, of which structures, on which sides.

The reader does not match whole sentences. It finds operation words (volume, ratio, asymmetry
...), scans the words for the longest spans that name a vocabulary concept (names, synonyms,
abbreviations, plurals and adjectives such as "hippocampal"), attaches laterality words to the
span they precede, and hands any leftover content words to the concept matcher (typos and
paraphrases by fuzzy and embedding similarity), so an unknown or unsupported structure is
recognised as such and refused rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voxelprompt.concepts import ConceptMatcher
from voxelprompt.concepts.matcher import _stem, key, normalise

OPS: list[tuple[str, str]] = [
    ("asymmetry", r"asymmetr|lateralit|lateralis|lateraliz|left[- ]right (?:difference|balance)"),
    ("normalize", r"normali[sz]|(?:relative to|fraction of|percent(?:age)? of|proportion of|corrected for|"
                  r"divided by) (?:the )?(?:icv|intracranial|head size|total intracranial)|\bicv[- ]normal"),
    ("ratio", r"\bratio\b|\bproportion\b|relative to|divided by|\bfraction\b"),
    ("change", r"\bchang|shrink|shrank|shrunk|\bgr[eo]w|atroph|\bprogress|increase|decrease|between "
               r"(?:the )?(?:visits|scans|timepoints|time points|sessions)|over time|longitudinal"),
    ("compare", r"\bcompar|\bversus\b|\bvs\b|differ|larger than|bigger than|smaller than|which is (?:larger|bigger"
                r"|smaller)"),
    ("surface_area", r"surface|\barea\b(?! of the| of)|\bsa\b"),
    ("diameter", r"diameter|\blength\b|longest|\bextent\b|how long|how wide|\bwidth\b|span\b"),
    ("intensity", r"intensit|\bsignal\b|brightness|mean value|average value|hounsfield|\bhu\b|grey value|gray "
                  r"value"),
    ("count", r"how many|number of|\bcount\b|components|\bpieces\b|fragments|instances|\bblobs\b|islands"),
    ("each", r"\beach\b|\bevery\b|\bindividual|\bseparately\b|\bone by one\b|\btheir (?:volumes|sizes)\b|"
             r"\bper (?:lesion|tumou?r|component|instance|blob)"),
    ("list", r"\blist\b|which structures|what structures|structures (?:are )?(?:present|available|label)|"
             r"what (?:is|are) label|inventory|what can you (?:segment|measure)"),
    ("describe", r"\bdescri|characteri[sz]|tell me (?:all )?about|all (?:the )?measurements|everything about|"
                 r"\bprofile\b"),
    ("locate", r"\bwhere\b|\blocat|which (?:region|structure|lobe)s? (?:is|does|contains)"),
    ("volume", r"volume|\bsize\b|how (?:big|large)|\bml\b|millilit|\bcc\b|\bmeasure|quantif|\bbig\b|\blarge\b"),
    ("segment", r"\bsegment|outline|delineat|\bmask\b|contour|highlight|\bshow\b|\bdraw\b"),
]
ADJECTIVES = {
    "hippocampal": "hippocampus", "thalamic": "thalamus", "amygdalar": "amygdala", "amygdaloid": "amygdala",
    "putaminal": "putamen", "pallidal": "pallidum", "caudal": "caudate", "ventricular": "ventricle",
    "cerebellar": "cerebellum", "callosal": "corpus callosum", "striatal": "striatum", "cortical": "cortex",
    "hemispheric": "hemisphere", "insular": "insula", "accumbal": "accumbens",
}
SIDES = {"left": "left", "l": "left", "lt": "left", "lh": "left", "sinister": "left",
         "right": "right", "r": "right", "rt": "right", "rh": "right", "dexter": "right",
         "both": "both", "bilateral": "both", "bilaterally": "both", "bilat": "both", "combined": "both",
         "total": "both", "together": "both", "summed": "both", "overall": "both"}
STOP = set("""
a an the of in on at to for from and or with by is are was were be been being what whats what's how much many
please give me tell show compute calculate find get report determine estimate can could would you i we my our
this that these those its it their there here scan scans image images mri ct study patient subject volume
volumes size sizes measure measurement measurements value values number each all both also as per do does
did which who whom whose between vs versus than then into onto over under about approximately roughly
millilitres milliliters millilitre milliliter ml cc mm units unit unit? ? . , ; : am should structure
structures region regions area areas surface diameter diameters length intensity intensities signal
mean average maximum max largest longest ratio asymmetry index compare comparison difference change
percent percentage segment segmentation outline mask masks big large larger bigger small smaller
quantify quantified visit visits first second baseline follow up followup time over normalized
normalised normalize normalise relative icv intracranial fraction proportion components component
count counted pieces islands instances where located locate location lies lie sit sits quick just
let us see it's is there any whole entire sides side brain's have has had got need want know like kindly
give gives provide list much big how does do done also just only exactly precisely precise exact one two
labelled labeled label labels labelling present available segmented contained visible inventory describe
description characterise characterize profile everything
three pair
""".split())
CONNECTORS = {"and", "to", "vs", "versus", "with", "against", ",", "or", "plus", "than"}


@dataclass
class Mention:
    """A structure named in the request, with its side (None if no side word was given)."""

    text: str
    side: str | None
    start: int
    ops: list[str] = field(default_factory=list)  # the operations of the sentence it is named in


@dataclass
class Request:
    """What the request asks: operations and the structures they apply to, in order."""

    text: str
    ops: list[str] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # named as structures but not recognised
    ignored: list[str] = field(default_factory=list)  # other words not understood


def read_sentences(text: str, matcher: ConceptMatcher) -> Request:
    """Read each sentence on its own, so that its operations apply to its own structures.

    "Segment the left hippocampus. Where is the amygdala?" measures the hippocampus and locates the
    amygdala. A sentence naming no structure ("Then measure its volume.") adds its operations to
    the structures of the sentence before.
    """
    parts = [p for p in re.split(r"(?<=[.?!;])\s+", text.strip()) if p.strip()] or [text]
    merged = Request(text)
    previous: list[Mention] = []
    offset = 0
    for part in parts:
        req = read_request(part, matcher)
        ops = req.ops or ["volume"]
        for m in req.mentions:
            m.ops = list(ops)
            m.start += offset
        if req.mentions:
            previous = req.mentions
        elif req.ops:
            for m in previous:
                m.ops = list(dict.fromkeys([*m.ops, *req.ops]))
        merged.mentions += req.mentions
        merged.unknown += req.unknown
        merged.ignored += req.ignored
        merged.ops = list(dict.fromkeys([*merged.ops, *req.ops]))
        offset += len(normalise(part).split()) + 1
    return merged


def find_ops(text: str) -> list[str]:
    norm = " " + normalise(text) + " "
    found = [(m.start(), op) for op, pattern in OPS for m in [re.search(pattern, norm)] if m]
    return [op for _, op in sorted(found)]


def read_request(text: str, matcher: ConceptMatcher, *, max_span: int = 6) -> Request:
    """Operations and structure mentions (with sides) of ``text``."""
    request = Request(text)
    words = normalise(text).replace(" s ", " ").split()
    stems = [ADJECTIVES.get(w, _stem(w)) for w in words]
    used = [False] * len(words)
    phrases = matcher._phrases
    i = 0
    spans: list[tuple[int, int, str]] = []
    while i < len(words):
        hit = None
        for n in range(min(max_span, len(words) - i), 0, -1):
            k = key(" ".join(stems[i:i + n]))
            if k and k in phrases and not (n == 1 and words[i] in SIDES):
                hit = (i, i + n, k)
                break
        if hit:
            spans.append(hit)
            for j in range(hit[0], hit[1]):
                used[j] = True
            i = hit[1]
        else:
            i += 1
    # operations, read from the words that do not name a structure ("accumbens area" is no area)
    request.ops = find_ops(" ".join(w if not u else "_" for w, u in zip(words, used)))
    aggregate = any(w in ("together", "combined", "summed", "total", "overall", "sum") for w in words)
    # sides: side words before a span (possibly "left and right"), carried over "X and Y"
    last_side: list[str | None] = [None]
    prev_end = 0
    for start, end, k in spans:
        sides: list[str | None] = []
        j = start - 1
        while j >= prev_end and (_side_word(words[j]) or words[j] in ("and", "the", "of", "&")):
            if _side_word(words[j]):
                sides.insert(0, _side_word(words[j]))
                used[j] = True
            j -= 1
        after = words[end] if end < len(words) else ""
        if after in ("l", "r", "lt", "rt", "lh", "rh") and not sides:
            sides = [SIDES[after]]
            used[end] = True
        if not sides:  # "... on the right", "... right side", "... (left)"
            tail = words[end:end + 4]
            for j, w in enumerate(tail):
                if w in ("left", "right") and (j == 0 or set(tail[:j]) <= {"on", "the", "in", "at"}):
                    sides = [w]
                    used[end + j] = True
                    break
        if not sides:
            between = words[prev_end:start]
            carried = last_side[-1] in ("left", "right") and between and set(between) <= {"and", "the", ","}
            sides = [last_side[-1]] if carried else [None]
        if "left" in sides and "right" in sides and not aggregate:
            sides = ["left", "right"]
        elif "both" in sides or ("left" in sides and "right" in sides):
            sides = ["both"]
        for s in sides:
            request.mentions.append(Mention(k, s, start))
        last_side = sides
        prev_end = end
    # "total", "combined", "together" anywhere: unsided structures are taken as both sides together
    if aggregate:
        for m in request.mentions:
            if m.side is None:
                m.side = "both"
    if "normalize" in request.ops and len(request.mentions) > 1:
        request.mentions = [m for m in request.mentions if m.text not in (key("intracranial volume"), "icv")]
    # leftover content words: maybe an unknown or unsupported structure
    chunk: list[str] = []
    chunks: list[tuple[str, bool]] = []  # (text, listed as a structure: "of the X", "and X")
    listed = False
    for j, (w, u) in enumerate(zip(words, used)):
        if u or w in STOP or w in SIDES or w in CONNECTORS or w.isdigit() or len(w) <= 2:
            if chunk:
                chunks.append((" ".join(chunk), listed))
            chunk = []
        else:
            if not chunk:
                before = [x for x in words[max(0, j - 2):j] if x != "the"]
                listed = bool(before) and before[-1] in ("of", "and", "to", "vs", "versus", "with", "in")
            chunk.append(w)
    if chunk:
        chunks.append((" ".join(chunk), listed))
    for c, listed in chunks:
        if _is_op_word(c):
            continue
        side, c = _typo_side(c)
        m = matcher.match(f"{side} {c}" if side else c)
        if m.status == "matched" and m.ref is not None and (m.ref.concept.kind == "pathology"
                                                             or m.ref.concept.region != "brain"):
            request.mentions.append(Mention(key(m.ref.concept.name), None, len(words)))
        elif m.status == "matched" and m.score >= 0.9 and m.ref is not None:
            request.mentions.append(Mention(key(m.ref.concept.name), m.ref.side, len(words)))
        elif m.status != "matched" or m.method == "embedding":
            (request.unknown if listed or not request.mentions else request.ignored).append(c)
    request.mentions.sort(key=lambda m: m.start)
    _part_of_whole(request, words)
    return request


PART_OF = re.compile(r"\b(?:fraction|percent(?:age)?|proportion|share|part) of\b")
PART_VERB = {"is", "are", "make", "makes", "made", "represent", "represents", "occupy", "occupies", "take",
             "takes", "form", "forms", "constitute", "constitutes"}


def _part_of_whole(request: Request, words: list[str]) -> None:
    """"What fraction of A is B" asks for B / A: put B first, as the numerator."""
    if "ratio" not in request.ops or len(request.mentions) < 2:
        return
    first, second = request.mentions[0], request.mentions[1]
    before = " ".join(words[:first.start])
    between = set(words[first.start:second.start])
    if PART_OF.search(before + " ") and between & PART_VERB:
        first.start, second.start = second.start, first.start
        request.mentions.sort(key=lambda m: m.start)


def _side_word(word: str) -> str | None:
    """The side a word names, allowing one typo in "left"/"right" ("lft", "rigth")."""
    from rapidfuzz import fuzz

    if word in SIDES:
        return SIDES[word]
    if 3 <= len(word) <= 6 and word not in STOP:
        for side in ("left", "right"):
            if fuzz.ratio(word, side) >= 75:
                return side
    return None


def _typo_side(chunk: str) -> tuple[str | None, str]:
    """A misspelt side word at the start of ``chunk`` ("lft", "rigth"): (side, rest)."""
    words = chunk.split()
    side = _side_word(words[0]) if len(words) > 1 and len(words[0]) >= 3 else None
    return (side, " ".join(words[1:])) if side else (None, chunk)


def _is_op_word(chunk: str) -> bool:
    text = " " + chunk + " "
    return any(re.search(p, text) for _, p in OPS)

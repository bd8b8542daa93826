"""What a question refers to: record ids, names resolved against the lexicon, statuses and a period.

Typed ids are read first (``PO-24017/2``, ``po 24017 line 2``, ``lot 0432``, ``FG1001``), then the period,
then names (sites, machines, lines, parameters, codes, items, suppliers). Every recognised span is masked
with a placeholder word (``entitem``, ``entline`` ...) so the intent patterns see the question's shape
("where is entlot") rather than the words of an item description. A name that fits several records in the
user's scope becomes an :class:`Ambiguity`; the model then asks instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from agent.rules._id_rules import ID_RULES
from agent.rules.ambiguity import Ambiguity
from agent.rules.intents import PLACEHOLDERS
from agent.rules.lexicon import PlantLexicon
from agent.rules.line_names import LineFinder
from agent.rules.names import (
    CustomerIndex,
    ItemIndex,
    NameIndex,
    PhraseIndex,
    SupplierIndex,
    machine_phrases,
    utility_asset_phrases,
)
from agent.rules.periods import Period, find_period
from agent.rules.sentences import asking_sentence, prefer_asked
from agent.rules.spanish import Reading, SpanishReader
from agent.rules.text import Speller, first_person, fold, question_start, tokenize, words
from agent.rules.vocab import Vocabulary

__all__ = ["Ambiguity", "Entities", "EntityResolver"]

@dataclass(frozen=True)
class Entities:
    """Everything recognised in one question."""

    ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Resolved ids by kind: item, lot, po, po_line, wo, qe, so, supplier, customer (its name), line, machine,
    asset, site, defect, reason, parameter."""
    flags: dict[str, str] = field(default_factory=dict)
    """Single-valued qualifiers: stock_status, wo_status, qe_status, severity, item_type, abc_class, and the
    vocabulary's further ``flags`` (open_only, late_only, mo_type ...)."""
    period: Period | None = None
    first_person: bool = False
    unknown_ids: tuple[str, ...] = ()
    """Ids typed in the question that do not exist in the plant."""
    ambiguities: tuple[Ambiguity, ...] = ()
    stems: tuple[str, ...] = ()
    """The question's word stems with recognised spans masked (what intent patterns match)."""

    def first(self, kind: str) -> str | None:
        """The first resolved id of ``kind``."""
        values = self.ids.get(kind, ())
        return values[0] if values else None

    def has(self, kind: str) -> bool:
        """True when ``kind`` was resolved (or, for qualifiers, set)."""
        return bool(self.ids.get(kind)) or kind in self.flags or (kind == "period" and self.period is not None)

    def merged(self, newer: Entities) -> Entities:
        """These entities overridden by ``newer`` kind by kind (for follow-up questions like 'and at P200?')."""
        ids = {**self.ids, **{k: v for k, v in newer.ids.items() if v}}
        if newer.ids.get("site") and not newer.ids.get("line"):
            ids.pop("line", None)
        return Entities(ids=ids, flags={**self.flags, **newer.flags}, period=newer.period or self.period,
                        first_person=newer.first_person or self.first_person, unknown_ids=newer.unknown_ids,
                        ambiguities=newer.ambiguities, stems=newer.stems)



_PERCENT = re.compile(r"\b(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per\s+cent\b|pct\b)")
"""A percentage figure (the ``percent`` flag: a threshold a tool takes as a fraction)."""


class EntityResolver:
    """Finds entities in questions; built once per model from the lexicon and vocabulary."""

    def __init__(self, lexicon: PlantLexicon, vocab: Vocabulary, reserved: Iterable[str]) -> None:
        self.lexicon = lexicon
        self.vocab = vocab
        reserved_set = set(reserved) | set(vocab.known_words) | vocab.all_stems()
        self._items = ItemIndex(lexicon.items)
        reserved_set |= self._items.stems()
        self._suppliers = SupplierIndex(lexicon, reserved_set)
        self._customers = CustomerIndex(lexicon, reserved_set)
        site_pairs = list(vocab.sites)
        for site in lexicon.sites:
            site_pairs.append((tuple(words(site.name)), site.site_id))
        self._sites = PhraseIndex(site_pairs)
        self._machines = machine_phrases(lexicon, vocab.machine_aliases)
        self._utilities = utility_asset_phrases(lexicon)
        self._params = PhraseIndex([*vocab.parameter_aliases,
                                    *((tuple(p.split("_")), p) for p in lexicon.parameters),
                                    *((tuple(p.split("_")[:-1]), p) for p in lexicon.parameters
                                      if p.endswith(("_ms", "_nm")))])
        codes = [*lexicon.scrap_reasons, *lexicon.down_reasons]
        self._reasons = PhraseIndex([*vocab.reason_aliases,
                                     *((tuple(fold(c).replace("-", "_").split("_")), c) for c in codes)])
        self._defects = PhraseIndex([*vocab.defect_aliases,
                                     *((tuple(fold(c).replace("_", "-").split("-")), c)
                                       for c in lexicon.defect_codes)])
        self._flags = {name: PhraseIndex(getattr(vocab, name)) for name in
                       ("stock_status", "wo_status", "qe_status", "severity", "item_types", "abc_classes")}
        self._flags.update({name: PhraseIndex(group) for name, group in vocab.flags.items()})
        self._line_finder = LineFinder(lexicon, vocab)
        vocabulary = (reserved_set | self._suppliers.stems() | self._customers.stems() | self._sites.stems()
                      | self._machines.stems() | self._utilities.stems() | self._params.stems())
        self.speller = Speller(vocabulary, vocab.known_words | PLACEHOLDERS)
        # Spanish questions are reworded into English before anything else reads them (data/spanish.yaml).
        site_words = {p[0] for p, _ in site_pairs if len(p) == 1} | {s.site_id.lower() for s in lexicon.sites}
        short = sorted(vocab.short_typos, key=len, reverse=True)
        self._short_typos = re.compile(r"\b(?:" + "|".join(map(re.escape, short)) + r")\b") if short else None
        # Supplier and customer names ('Bombas y Equipos del Bajío') stay as typed: their words name, not ask.
        self.spanish = SpanishReader(site_words=site_words,
                                     names=[*(s.name for s in lexicon.suppliers), *lexicon.customers],
                                     english=vocabulary | vocab.known_words)

    def read(self, question: str) -> Reading:
        """``question`` folded, worded in English when it is Spanish, short typos fixed ('nxt wk' → 'next week'):
        what every rule reads."""
        reading = self.spanish.read(question)
        if self._short_typos is None:
            return reading
        fixes = self.vocab.short_typos
        return replace(reading, text=self._short_typos.sub(lambda m: fixes[m.group(0)], reading.text))

    # ------------------------------------------------------------------ typed ids
    def _typed_ids(self, text: str, user_sites: frozenset[str] | None,
                   ids: dict[str, list[str]], unknown: list[str], ambiguities: list[Ambiguity]) -> str:
        lex = self.lexicon
        exists: dict[str, Callable[[str], bool]] = {
            "po_line": lambda v: v in lex.po_lines, "po": lambda v: v in lex.po_ids,
            "lot": lambda v: v in lex.lot_ids, "wo": lambda v: v in lex.wo_ids, "qe": lambda v: v in lex.qe_ids,
            "so": lambda v: v in lex.so_ids, "machine": lambda v: lex.machine(v) is not None,
            "line": lambda v: lex.line(v) is not None, "item": lambda v: lex.item(v) is not None,
            "supplier": lambda v: lex.supplier(v) is not None, "asset": lambda v: lex.asset(v) is not None,
            "site": lambda v: lex.site(v) is not None,
        }
        for pattern, kind, build in ID_RULES:
            def replace(match: re.Match[str], kind: str = kind, build: Callable[[re.Match[str]], str] = build) -> str:
                value = build(match)
                if kind == "lot_short":
                    found = [lot for lot in (f"LOT-{s.site_id}-{value}" for s in lex.sites) if lot in lex.lot_ids]
                    scoped = [lot for lot in found if user_sites is None or lot.split("-")[1] in user_sites]
                    pick = scoped or found
                    if len(pick) == 1:
                        ids.setdefault("lot", []).append(pick[0])
                    elif pick:
                        ambiguities.append(Ambiguity("lot", match.group(0), tuple((p, p) for p in pick)))
                    else:
                        unknown.append(f"lot {value}")
                    return " entlot "
                if kind == "line" and not exists["line"](value):
                    return match.group(0)  # not a line id (e.g. 'p100 as' in prose): leave the words alone
                if exists[kind](value):
                    if kind == "po_line":
                        ids.setdefault("po", []).append(value.split("/")[0])
                    ids.setdefault(kind, []).append(value)
                else:
                    unknown.append(value)
                return f" ent{kind.replace('_', '')} "
            text = re.sub(pattern, replace, text)
        return text

    # ------------------------------------------------------------------ lines

    # ------------------------------------------------------------------ main
    def extract(self, question: str, today: date, user_sites: frozenset[str] | None) -> Entities:
        """Entities of ``question`` for a user who sees ``user_sites`` (``None``: every site); in a message with
        context sentences, those of the sentence that asks come first."""
        whole = self._extract(question, today, user_sites)
        asking = asking_sentence(question)
        return whole if asking is None else prefer_asked(whole, self._extract(asking, today, user_sites), asking, today)

    def _extract(self, question: str, today: date, user_sites: frozenset[str] | None) -> Entities:
        ids: dict[str, list[str]] = {}
        unknown: list[str] = []
        ambiguities: list[Ambiguity] = []
        text = self._typed_ids(self.read(question).text, user_sites, ids, unknown, ambiguities)
        period, span = find_period(text, today, self.vocab.numbers)
        if span:
            text = text[: span[0]] + " entperiod " + text[span[1]:]
        tokens = self.speller.apply(tokenize(text))
        stems = [t.stem for t in tokens]
        taken = {i for i, s in enumerate(stems) if s in PLACEHOLDERS}
        masks: dict[int, tuple[int, str]] = {}

        def mask(start: int, end: int, kind: str) -> None:
            masks[start] = (end, f"ent{kind}" if kind else "")

        for m in self._sites.find(stems, taken):
            ids.setdefault("site", []).extend(m.values)
            mask(m.start, m.end, "site")
        sites = sorted(set(ids.get("site", [])))
        machine_names: list[tuple[str, ...]] = []
        for m in self._machines.find(stems, taken):
            machine_names.append(m.values)
            mask(m.start, m.end, "machine")
        for m in self._utilities.find(stems, taken):
            self._resolve_utility(m.values, ids, user_sites, ambiguities)
            mask(m.start, m.end, "asset")
        for line_id, (start, end) in self._line_finder.find(stems, taken, sites, user_sites, ambiguities):
            if line_id:
                ids.setdefault("line", []).append(line_id)
            mask(start, end, "line")
        for m in self._params.find(stems, taken):
            ids.setdefault("parameter", []).extend(m.values)
            mask(m.start, m.end, "param")
        for m in self._defects.find(stems, taken):
            ids.setdefault("defect", []).extend(m.values)
            mask(m.start, m.end, "defect")
        for m in self._reasons.find(stems, taken):
            ids.setdefault("reason", []).extend(m.values)
            mask(m.start, m.end, "reason")
        found, used = self._items.find(stems, taken)
        if len(found) > 1:
            # 'the 24 V brushless motors at Monterrey': the one of them kept at a site the user named and may see.
            seen = [x for x in ids.get("site", ()) if user_sites is None or x in user_sites] or user_sites or ()
            kept = tuple(f for f in found if any((f, x) in self.lexicon.item_sites for x in seen))
            found = kept or found
        self._named("item", found, used, stems, taken, ids, ambiguities, mask)
        for kind, (found, used) in self._parties(stems, taken):
            self._named(kind, found, used, stems, taken, ids, ambiguities, mask)
        self._resolve_machines(machine_names, ids, user_sites, ambiguities)
        flags: dict[str, str] = {}
        if percent := _PERCENT.search(text):  # 'above 40% failure risk', 'drop it to 10 pct'
            flags["percent"] = percent.group(1)
        for name, flag_index in self._flags.items():
            hits = flag_index.find(stems, set(taken))
            if hits:
                flags[{"item_types": "item_type", "abc_classes": "abc_class"}.get(name, name)] = hits[0].values[0]
        masked: list[str] = []
        i = 0
        while i < len(stems):
            if i in masks:
                end, word = masks[i]
                if word:
                    masked.append(word)
                i = max(end, i + 1)
                continue
            masked.append(stems[i])
            i += 1
        resolved = {k: tuple(dict.fromkeys(v)) for k, v in ids.items() if v}
        return Entities(ids=resolved, flags=flags, period=period,
                        first_person=first_person([t.text for t in tokens if t.start >= question_start(text)]),
                        unknown_ids=tuple(unknown),
                        ambiguities=tuple(ambiguities), stems=tuple(masked))

    def _parties(self, stems: list[str], taken: set[int]
                 ) -> list[tuple[str, tuple[tuple[str, ...], set[int]]]]:
        """Suppliers and customers named in ``stems``. When both claim the same words, the one naming more of
        them wins; on a tie ('Keystone' is both) both ids are kept and the words are masked once, as a
        supplier: the intent then takes the one it needs."""
        indexes: tuple[tuple[str, NameIndex], ...] = (("supplier", self._suppliers), ("customer", self._customers))
        found = {kind: index.find(stems, taken) for kind, index in indexes}
        (suppliers, s_used), (customers, c_used) = found["supplier"], found["customer"]
        if s_used & c_used:
            if len(c_used) > len(s_used):
                return [("customer", (customers, c_used))]
            if len(s_used) > len(c_used):
                return [("supplier", (suppliers, s_used))]
            return [("supplier", (suppliers, s_used)), ("customer", (customers, set()))]
        return [("supplier", (suppliers, s_used)), ("customer", (customers, c_used))]

    def _named(self, kind: str, found: tuple[str, ...], used: set[int], stems: list[str], taken: set[int],
               ids: dict[str, list[str]], ambiguities: list[Ambiguity], mask: Callable[[int, int, str], None]) -> None:
        """Record the ids a name index found (one = resolved, several = ambiguous) and mask their words."""
        if len(found) == 1:
            ids.setdefault(kind, []).append(found[0])
        elif found:
            ambiguities.append(Ambiguity(kind, " ".join(stems[i] for i in sorted(used)),
                                         tuple((f, self._label(kind, f)) for f in found[:8])))
        if used:
            taken.update(used)
            first = min(used)
            mask(first, first + 1, kind)
            for i in used - {first}:
                mask(i, i + 1, "")

    def _label(self, kind: str, record_id: str) -> str:
        if kind == "item":
            item = self.lexicon.item(record_id)
            return item.description.split("<")[0][:60].strip() if item else record_id
        if kind == "supplier":
            supplier = self.lexicon.supplier(record_id)
            return supplier.name if supplier else record_id
        return record_id

    def _resolve_utility(self, assets: tuple[str, ...], ids: dict[str, list[str]],
                         user_sites: frozenset[str] | None, ambiguities: list[Ambiguity]) -> None:
        """A utility named by words ('the process chiller'): the one at the site named, else at the user's."""
        entries = [a for a in self.lexicon.assets if a.asset_id in assets]
        sites = set(ids.get("site", ())) or user_sites
        entries = [a for a in entries if sites is None or a.site_id in sites] or entries
        if len(entries) == 1:
            ids.setdefault("asset", []).append(entries[0].asset_id)
        elif entries:
            ambiguities.append(Ambiguity("asset", entries[0].name, tuple(
                (a.asset_id, f"{a.name} at {a.site_id}") for a in entries[:8])))

    def _resolve_machines(self, names: list[tuple[str, ...]], ids: dict[str, list[str]],
                          user_sites: frozenset[str] | None, ambiguities: list[Ambiguity]) -> None:
        lines = set(ids.get("line", []))
        sites = set(ids.get("site", []))
        typed = set(ids.get("machine", []))
        typed |= {a.machine_id for a in self.lexicon.assets if a.asset_id in ids.get("asset", []) and a.machine_id}
        for wanted in names:
            cands = [m for m in self.lexicon.machines if m.name in wanted]
            if typed & {m.machine_id for m in cands}:
                continue  # 'the heat sealer M-P100-PK1-02': the typed id already says which one
            if lines:
                cands = [m for m in cands if m.line_id in lines]
            elif sites:
                cands = [m for m in cands if m.site_id in sites]
            elif user_sites is not None:
                cands = [m for m in cands if m.site_id in user_sites] or cands
            if len(cands) == 1:
                ids.setdefault("machine", []).append(cands[0].machine_id)
            elif cands:
                ambiguities.append(Ambiguity("machine", wanted[0], tuple(
                    (m.machine_id, f"{m.name} on {m.line_id}") for m in cands[:8])))

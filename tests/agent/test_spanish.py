"""Spanish in the rules model: questions typed in Spanish are read (agent/rules/spanish.py) and users whose policy
record says ``language: es`` are answered in Spanish (agent/rules/localize.py); English stays as it was."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from sqlalchemy import Engine

from agent.grounding import check_grounding, collect_evidence
from agent.prompts import system_prompt
from agent.rules import RulesChatModel
from agent.rules.action_answers import ACTION_LABELS
from agent.rules.localize import Localizer, localize
from agent.rules.planner import Reply, ToolPlan, UserContext
from agent.rules.spanish import SpanishReader, forms
from guardrails.audit.chain import AuditEvent
from guardrails.audit.trace import Trace
from guardrails.gate import Effect, Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.factories import AS_OF, TODAY
from tools import default_catalog


@pytest.fixture(scope="module")
def reader() -> SpanishReader:
    """A reader without a plant: the data file's words only (plus two site words and one supplier name)."""
    return SpanishReader(site_words={"p100", "p200", "monterrey", "aurora"},
                         names=["Refacciones Industriales Santa Catarina", "Empaques Flexibles del Norte S.A."],
                         english={"stock", "scrap", "late", "inventory"})


# ------------------------------------------------------------------------------------------ detection
@pytest.mark.parametrize("question", [
    "¿cuánto inventario tenemos de CP-2039 en Monterrey?",
    "cuanto inventario tenemos de CP-2039",            # no accents, no '¿'
    "¿y en Aurora?",                                    # a short follow-up
    "órdenes de compra atrasadas",
    "solo materia prima",                               # no function word: table words decide
    "pon en retención el lote LOT-P200-0280, hay rebabas",
])
def test_spanish_questions_are_detected(reader: SpanishReader, question: str) -> None:
    assert reader.read(question).spanish


@pytest.mark.parametrize("question", [
    "how much CP-2039 do we have at Monterrey?",
    "late POs from Empaques Flexibles del Norte",       # a Spanish supplier name in an English question
    "scrap at P200 last week",
    "show me late POs",
    "Monterrey stock of CP-2039",
    "what's running on MC2 right now",
])
def test_english_questions_are_left_exactly_as_folded(reader: SpanishReader, question: str) -> None:
    reading = reader.read(question)
    assert not reading.spanish and reading.text == question.lower().replace("’", "'")


# ------------------------------------------------------------------------------------------ rewording
@pytest.mark.parametrize(("question", "english"), [
    ("¿cuánto inventario tenemos de CP-2039 en Monterrey?", "¿how much inventory do we have of cp-2039 in monterrey?"),
    ("órdenes de compra atrasadas", "late purchase orders"),               # plural and feminine forms
    ("lotes bloqueados", "blocked lot"),
    ("inventaro de conpras", "inventory of purchasing"),                   # typos
    ("¿qué está corriendo ahora en la línea MC2?", "¿what is running now in line mc2?"),
    ("scrap de la semana pasada", "scrap of last week"),                   # periods become English periods
    ("en los próximos 7 días", "in next 7 days"),
    ("los últimos 14 días", "the last 14 days"),
    ("hasta el viernes", "until friday"),                                 # weekday phrases
    ("el 20 de febrero", "the 20 of february"),
    ("mueve 300 de CP-2039 de Monterrey a Aurora", "move 300 of cp-2039 from monterrey to aurora"),
    ("desde la planta de Monterrey", "from monterrey"),                   # 'de/desde' before a site
    ("adelanta la OC-24017 partida 2", "expedite the po-24017 line 2"),    # Spanish id prefixes
    ("estatus de la OT 5123", "status of wo 5123"),
])
def test_spanish_is_reworded_into_the_english_the_rules_know(reader: SpanishReader, question: str,
                                                             english: str) -> None:
    assert reader.read(question).text == english


def test_ids_and_supplier_names_are_never_reworded(reader: SpanishReader) -> None:
    assert reader.read("reserva refacciones para LOT-P200-0280").text == "reserve spare parts for lot-p200-0280"
    named = reader.read("¿qué le compramos a Refacciones Industriales Santa Catarina?").text
    assert "refacciones industriales santa catarina" in named           # a table word, but inside the name
    assert "empaques flexibles" in reader.read("OCs atrasadas de Empaques Flexibles del Norte").text


def test_plural_and_feminine_forms_find_their_entry() -> None:
    assert "atrasado" in forms("atrasadas") and "orden" in forms("ordenes") and "lote" in forms("lotes")
    assert forms("mes") == ("mes",) and forms("para") == ("para",)      # short words are left alone


def test_the_data_file_has_no_phrase_twice_and_only_folded_english() -> None:
    class Strict(yaml.SafeLoader):
        """Refuses a key listed twice in one mapping (plain YAML keeps the last silently)."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(k) for k, _ in node.value]
        assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})
        return yaml.SafeLoader.construct_mapping(loader, node)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    for name in ("spanish.yaml", "answers_es.yaml"):
        yaml.load(resources.files("agent.rules").joinpath("data", name).read_text(encoding="utf-8"), Loader=Strict)
    SpanishReader()  # every phrase listed once across its groups (the loader raises otherwise)


# ------------------------------------------------------------------------------------------ planning
def _ctx(policy: Policy, user_id: str) -> UserContext:
    """The user's context with their read tools and every action offered (the gate decides on actions)."""
    user = policy.user(user_id)
    gate = Gate(policy, default_catalog())
    names = frozenset(s.name for s in default_catalog() if gate.decide(user, s.name).effect is not Effect.DENY)
    return UserContext(user_id, frozenset(user.roles), user.sites, TODAY, AS_OF.isoformat(),
                       names | frozenset(ACTION_LABELS))


def _calls(model: RulesChatModel, policy: Policy, user_id: str, question: str,
           history: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    plan = model.planner.plan(question, _ctx(policy, user_id), history)
    assert isinstance(plan, ToolPlan), plan
    return {c.name: c.args for c in plan.calls}


@pytest.mark.parametrize(("user", "question", "tool", "args"), [
    ("paz.planner", "¿cuánto inventario tenemos de CP-2039 en Monterrey?", "inventory_lookup",
     {"item_id": "CP-2039", "site_id": "P200"}),
    ("paz.planner", "órdenes de compra atrasadas", "open_po_lines", {"late_only": True}),
    ("paz.planner", "¿qué OCs llegan esta semana?", "open_po_lines", {"due_within_days": 6}),
    ("sol.supervisor", "¿qué está corriendo ahora en la línea MC2?", "work_orders",
     {"line_id": "P200-MC2", "status": "running"}),
    ("qiu.quality", "eventos de calidad abiertos en Monterrey", "quality_events",
     {"site_id": "P200", "status": "unresolved"}),
    ("qiu.quality", "¿cuánto scrap tuvimos en la celda MC2 los últimos 14 días?", "scrap_analysis",
     {"line_id": "P200-MC2", "days": 14}),
    ("sol.supervisor", "¿qué máquinas están en riesgo de falla?", "assets_at_risk", {}),
    ("sol.supervisor", "¿cuál es el procedimiento para liberar un lote retenido?", "search_documents",
     {"query": "¿cuál es el procedimiento para liberar un lote retenido?", "limit": 5}),
])
def test_spanish_questions_get_the_intent_and_arguments_of_their_english_twin(
        model: RulesChatModel, policy: Policy, user: str, question: str, tool: str, args: dict[str, Any]) -> None:
    calls = _calls(model, policy, user, question)
    assert tool in calls and calls[tool] == args


def test_a_spanish_follow_up_borrows_the_previous_question(model: RulesChatModel, policy: Policy) -> None:
    calls = _calls(model, policy, "paz.planner", "¿y en Aurora?", ("¿cuánto inventario tenemos de CP-2039?",))
    assert calls == {"inventory_lookup": {"item_id": "CP-2039", "site_id": "P100"}}


def test_spanish_requests_keep_the_users_own_words_as_reason(model: RulesChatModel, policy: Policy) -> None:
    hold = _calls(model, policy, "qiu.quality", "pon en retención el lote LOT-P200-0280 y sus órdenes de trabajo, "
                                                "hay rebabas")
    assert hold == {"place_quality_hold": {"lot_id": "LOT-P200-0280", "reason": "hay rebabas",
                                           "include_open_work_orders": True}}
    move = _calls(model, policy, "paz.planner", "mueve 50 de CP-2043 de Monterrey a Aurora por falta de material")
    assert move["reallocate_inventory"] == {"item_id": "CP-2043", "qty": 50, "from_site_id": "P200",
                                            "to_site_id": "P100", "reason": "falta de material"}
    review = _calls(model, policy, "qiu.quality", "abre una revisión del proveedor S-003 sobre el lote LOT-P200-0305")
    assert review["open_supplier_review"]["supplier_id"] == "S-003"
    assert review["open_supplier_review"]["reason"] == "el lote LOT-P200-0305"


def test_spanish_replies_without_tools_are_spanish_for_spanish_users(model: RulesChatModel,
                                                                      policy: Policy) -> None:
    plan = model.planner.plan("¿cuánto tenemos del CP-9999?", _ctx(policy, "paz.planner"))
    assert isinstance(plan, Reply) and plan.kind == "not_found"
    assert localize(plan.text, "es").startswith("No encuentro CP-9999 en los datos de la planta")


# ------------------------------------------------------------------------------------------ answers
class _Events:
    """An audit sink keeping the events in memory."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def add(self, event: AuditEvent) -> None:
        self.events.append(event)


def _answer(model: RulesChatModel, policy: Policy, demo_plant: Engine, user_id: str,
            question: str) -> tuple[str, list[str]]:
    """Ask through the rules model with the user's system prompt, run its calls through the gate, and return
    the answer and the tool results."""
    user = policy.user(user_id)
    catalog = default_catalog()
    gate = Gate(policy, catalog, SqlSiteResolver(demo_plant))
    governed = GovernedTools(gate=gate, catalog=catalog, engine=demo_plant, today=TODAY)
    specs = [s for s in catalog if gate.decide(user, s.name).effect is not Effect.DENY]
    schemas = [{"type": "function", "function": {"name": s.name, "description": s.description,
                                                 "parameters": s.json_schema()}} for s in specs]
    messages: list[BaseMessage] = [
        SystemMessage(system_prompt(user, today=TODAY, as_of=AS_OF, tools=[s.name for s in specs])),
        HumanMessage(question)]
    bound = model.bind_tools(schemas)
    reply = bound.invoke(messages)
    assert isinstance(reply, AIMessage)
    messages.append(reply)
    trace = Trace(trace_id=f"spanish-{user_id}", thread_id=None, user_id=user_id, policy_hash=policy.hash)
    results = []
    for call in reply.tool_calls:
        outcome = governed.call(user, call["name"], call["args"], trace=trace, audit=_Events())
        results.append(json.dumps(outcome.for_model()))
        messages.append(ToolMessage(content=results[-1], tool_call_id=call["id"], name=call["name"]))
    final = bound.invoke(messages) if reply.tool_calls else reply
    assert isinstance(final, AIMessage)
    return str(final.content), results


def test_the_policy_language_reaches_the_rules_model(policy: Policy) -> None:
    prompt = system_prompt(policy.user("paz.planner"), today=TODAY, as_of=AS_OF, tools=[])
    assert json.loads(prompt.splitlines()[-1].removeprefix("context: "))["language"] == "es"
    assert "Answer in Spanish" in prompt
    english = system_prompt(policy.user("pat.planner"), today=TODAY, as_of=AS_OF, tools=[])
    assert json.loads(english.splitlines()[-1].removeprefix("context: "))["language"] == "en"
    assert "Spanish" not in english


def test_a_spanish_user_is_answered_in_spanish_with_the_same_ids_and_figures(
        model: RulesChatModel, policy: Policy, demo_plant: Engine) -> None:
    question = "¿cuánto inventario tenemos de CP-2039?"
    spanish, results = _answer(model, policy, demo_plant, "paz.planner", question)
    english, _ = _answer(model, policy, demo_plant, "bo.buyer", "how much CP-2039 do we have?")  # also P200
    assert "disponibles" in spanish and "Datos al" in spanish and " available" not in spanish
    assert "available" in english and "Data as of" in english and "disponibles" not in english
    # The same record ids, figures and citations in both languages, all supported by the tool results.
    assert re.findall(r"[\d,.]+|\[[^\]]+\]", spanish) == re.findall(r"[\d,.]+|\[[^\]]+\]", english)
    report = check_grounding(spanish, collect_evidence(results, extra_text=[question]), mode="mark")
    assert not report.unverified and report.citations


def test_an_english_user_asking_in_spanish_is_answered_in_english(model: RulesChatModel, policy: Policy,
                                                                   demo_plant: Engine) -> None:
    answer, _ = _answer(model, policy, demo_plant, "pat.planner", "¿cuánto inventario tenemos de CP-2039 en Aurora?")
    assert "available" in answer and "Data as of" in answer and "disponibles" not in answer


def test_a_spanish_users_refusal_and_reply_are_spanish(model: RulesChatModel, policy: Policy,
                                                       demo_plant: Engine) -> None:
    refused, _ = _answer(model, policy, demo_plant, "paz.planner", "¿y en Aurora cuánto CP-2039 hay?")
    assert refused.startswith("La consulta inventory_lookup fue rechazada: No tiene acceso al sitio P100")
    no_access, _ = _answer(model, policy, demo_plant, "paz.planner", "dame el resumen ejecutivo de la planta")
    assert no_access.startswith("No puedo consultar eso: su rol no tiene acceso al resumen ejecutivo")


# ------------------------------------------------------------------------------------------ the translation table
@pytest.mark.parametrize(("english", "spanish"), [
    ("Data as of 2026-03-02 06:00.", "Datos al 2026-03-02 06:00."),
    ("CP-2039 at P200: 71 available (71 on hand, 0 reserved, 12 in quality inspection) in 2 inventory rows "
     "[LOT-P200-0275, LOT-P200-0285].",
     "CP-2039 en P200: 71 disponibles (71 en existencia, 0 reservados, 12 en inspección de calidad) en 2 registros "
     "de inventario [LOT-P200-0275, LOT-P200-0285]."),
    ("3 late open PO lines from S-015 at P200:", "3 líneas de OC abiertas y atrasadas del proveedor S-015 en P200:"),
    ("No down time recorded on P200-AS1 from 2026-03-01 to 2026-03-01.",
     "No hay tiempo muerto registrado en P200-AS1 del 2026-03-01 al 2026-03-01."),
    ("Buyer exceptions: past due 3, expedite 9, supplier slip 15, quality blocked 3.",
     "Excepciones del comprador: vencidas 3, adelantar 9, retraso del proveedor 15, bloqueadas por calidad 3."),
])
def test_fixed_wording_is_translated_and_records_are_not(english: str, spanish: str) -> None:
    assert localize(english, "es") == spanish
    assert localize(english, "en") == english


def test_quotes_citations_and_code_are_never_translated() -> None:
    line = "- \"Hold procedure\", Scope: \"Stock on hand is available for lots on hold.\" [QP-004 §2] `on hand`"
    translated = localize(line, "es")
    assert "\"Stock on hand is available for lots on hold.\"" in translated and "`on hand`" in translated
    assert "[QP-004 §2]" in translated


def test_an_unknown_sentence_stays_english_rather_than_guessed() -> None:
    assert localize("The moon is made of cheese.", "es") == "The moon is made of cheese."


def test_a_translation_may_not_invent_a_hole() -> None:
    with pytest.raises(ValueError, match="hole"):
        Localizer({"lines": {"{n} lines": "{n} líneas de {m}"}})

"""MCP beyond tools: resources, prompts and completions over the catalog.

Resources (JSON, read-only, one catalog read each):

- `rulecat://catalog`: what `catalog_info` answers;
- `rulecat://rule/{id}`: one rule in full, its text included (`get_rule`, include_raw);
- `rulecat://technique/{id}`: the first `TECHNIQUE_RULES` rules of the coverage answer and
  the top `TECHNIQUE_INDICATORS` indicators, default filters;
- `rulecat://event/{provider}/{event_id}`: the rules and techniques relying on one event
  (the analytics' `get_event_coverage`), e.g. `rulecat://event/Sysmon/10`. A provider with
  a space is percent-encoded (`Elastic%20Defend`);
- `rulecat://schema/{tool}`: the full JSON Schema of a tool's answer (`tools/list` keeps
  only `{"type": "object"}` of it; see `mcp_server._compact_listing`).

Prompts tell the model which tools to call, in which order, and what to look at. Each
prompt checks its argument against the catalog first (an unknown technique is an error
naming the nearest IDs, not a prompt about nothing), and names only tools this server
actually lists, so a prompt never sends the model to a tool that is not there.

Completions: one handler for the server (the SDK allows one), dispatching on the argument
name: technique IDs (by ID prefix, else by name), rule ids (by id prefix, else by title),
field names (canonical and vendor spellings, most used first), event providers (most rules
first), a provider's event ids, tactics, vendors and tool names. The name lists are read
once per build (a rebuild swapped in is read again).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS, Completion, CompletionArgument, CompletionContext, PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from rulecat.index.api import Catalog
from rulecat.index.models import VENDORS

from .mcp_server import ToolContext, full_output_schemas

TECHNIQUE_RULES = 20  # per vendor
TECHNIQUE_INDICATORS = 10
EVENT_RULES = 50
MAX_COMPLETIONS = 100  # the protocol's cap on one completion answer
JSON = "application/json"


def register(server: MCPServer, context: ToolContext) -> None:
    """Add the resources, prompts and the completion handler to `server`."""
    _register_resources(server, context)
    _register_prompts(server, context)
    names = CatalogNames(context)

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        known = context.arguments if context and context.arguments else {}
        kind = _argument_kind(ref, argument.name)
        if kind == "tool":  # no catalog needed: the server's own tool names
            return _matches([(t.name, t.description or "") for t in await server.list_tools()],
                            argument.value)
        return names.complete(kind, argument.value, known)


# -- resources ---------------------------------------------------------------------------


@contextmanager
def _reading(context: ToolContext, uri: str) -> Iterator[Catalog]:
    """The thread's catalog; rulecat's errors become resource errors the client reads."""
    try:
        with context.catalog() as cat:
            yield cat
    except ToolError as exc:
        text = str(exc)
        if "No catalog" in text:
            raise ResourceError(text) from exc
        raise ResourceNotFoundError(f"{uri}: {text}") from exc


def _register_resources(server: MCPServer, context: ToolContext) -> None:
    @server.resource("rulecat://catalog", mime_type=JSON, title="Catalog summary")
    def catalog_summary() -> str:
        """What the catalog holds: sources, counts, ATT&CK version, build report summary."""
        with _reading(context, "rulecat://catalog") as cat:
            return cat.catalog_info().model_dump_json(indent=1)

    @server.resource("rulecat://rule/{id}", mime_type=JSON, title="Detection rule")
    def rule(id: str) -> str:  # noqa: A002 - the URI template's own name
        """One rule in full: metadata, techniques, events, detection tests, exclusions and
        the rule's text. `id` is `<source>:<native id>`, e.g. `sigma:3b4b232a-...`."""
        with _reading(context, f"rulecat://rule/{id}") as cat:
            return cat.get_rule(id, include_raw=True).model_dump_json(indent=1)

    @server.resource("rulecat://technique/{id}", mime_type=JSON, title="Technique coverage")
    def technique(id: str) -> str:  # noqa: A002
        """An ATT&CK technique's coverage (rules per vendor, events) and what its rules test
        (fields, indicators with corpus reach, exclusions), e.g. `rulecat://technique/T1059`."""
        with _reading(context, f"rulecat://technique/{id}") as cat:
            coverage = cat.get_technique_coverage(id, limit=TECHNIQUE_RULES)
            indicators = cat.top_indicators(id, TECHNIQUE_INDICATORS)
        return json.dumps({"coverage": coverage.model_dump(mode="json"),
                           "indicators": indicators.model_dump(mode="json")}, indent=1)

    @server.resource("rulecat://event/{provider}/{event_id}", mime_type=JSON, title="Log event")
    def event(provider: str, event_id: str) -> str:
        """The rules and techniques relying on one log event, per vendor and source, e.g.
        `rulecat://event/Sysmon/10` (ProcessAccess)."""
        from rulecat.index.analytics.events import get_event_coverage

        uri = f"rulecat://event/{provider}/{event_id}"
        if not event_id.strip().isdigit():
            raise ResourceNotFoundError(f"{uri}: event_id must be a number, e.g. 10.")
        with _reading(context, uri) as cat:
            answer = get_event_coverage(cat, provider, int(event_id), limit=EVENT_RULES)
        return answer.model_dump_json(indent=1)

    @server.resource("rulecat://schema/{tool}", mime_type=JSON, title="Answer schema")
    def schema(tool: str) -> str:
        """The full JSON Schema of one tool's answer, every field described (`tools/list`
        publishes only `{"type": "object"}` to stay small), e.g.
        `rulecat://schema/top_indicators`."""
        schemas = full_output_schemas(server)
        if tool not in schemas:
            raise ResourceNotFoundError(
                f"rulecat://schema/{tool}: no such tool; try one of {', '.join(sorted(schemas))}.")
        return json.dumps(schemas[tool], indent=1)


# -- prompts -----------------------------------------------------------------------------

TechniqueArg = Annotated[str, Field(description="ATT&CK technique ID, e.g. T1559.001.")]
VendorsArg = Annotated[str, Field(
    description="Only these vendors, comma-separated (sigma, elastic, splunk); empty: all.")]


def _register_prompts(server: MCPServer, context: ToolContext) -> None:
    async def tools() -> set[str]:
        return {t.name for t in await server.list_tools()}

    @server.prompt(title="Technique coverage review")
    async def technique_coverage_review(
        technique_id: TechniqueArg, vendors: VendorsArg = ""
    ) -> str:
        """Review how well the catalog's rules cover one ATT&CK technique, and what to add."""
        with _prompting(context) as cat:
            tech = cat.get_technique_coverage(technique_id, limit=1).technique
        return _technique_review(tech.id, tech.name or "", _vendor_list(vendors), await tools())

    @server.prompt(title="Tactic gap analysis")
    async def tactic_gap_analysis(
        tactic: Annotated[str, Field(description="ATT&CK tactic: name, shortname or TA id, "
                                     "e.g. 'Execution', 'privilege-escalation', TA0005.")],
        vendors: VendorsArg = "",
    ) -> str:
        """Find the techniques of one ATT&CK tactic that no rule (or one rule) detects, and
        the telemetry that would close most gaps."""
        with _prompting(context) as cat:
            name, shortname, summary = _tactic_summary(cat, tactic, _vendor_list(vendors))
        return _gap_analysis(name, shortname, summary, _vendor_list(vendors), await tools())

    @server.prompt(title="Explain this rule")
    async def explain_rule(
        rule_id: Annotated[str, Field(description="Rule id, '<source>:<id>' as tools return it.")],
        audience: Annotated[str, Field(
            description="Who reads it: analyst, engineer, manager.")] = "analyst",
    ) -> str:
        """Explain one detection rule in plain words: what it catches, how, and how it fails."""
        with _prompting(context) as cat:
            row = cat.get_rule(rule_id).rule
        return _explain(row.id, row.title, row.vendor, audience or "analyst", await tools())

    @server.prompt(title="One field across vendors")
    async def field_across_vendors(
        field: Annotated[str, Field(description="Any vendor's field name, e.g. Image, "
                                    "process.command_line, Processes.process_name.")],
        value: Annotated[str, Field(description="Optional value substring, e.g. regsvr32.")] = "",
    ) -> str:
        """Compare how Sigma, Elastic and Splunk rules test one field (and value)."""
        return _field_compare(field, value, await tools())


@contextmanager
def _prompting(context: ToolContext) -> Iterator[Catalog]:
    """The thread's catalog; a bad argument is an invalid-params error naming what to try."""
    try:
        with context.catalog() as cat:
            yield cat
    except ToolError as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc


def _vendor_list(text: str) -> list[str]:
    vendors = [v.strip().lower() for v in (text or "").split(",") if v.strip()]
    bad = [v for v in vendors if v not in VENDORS]
    if bad:
        raise MCPError(code=INVALID_PARAMS, message=f"Unknown vendors: {', '.join(bad)}. "
                       f"Valid: {', '.join(VENDORS)}.")
    return vendors


def _steps(steps: list[tuple[str | None, str]], tools: set[str]) -> str:
    """Numbered steps, keeping those whose tool (first item) the server lists."""
    kept = [text for tool, text in steps if tool is None or tool in tools]
    return "\n".join(f"{n}. {text}" for n, text in enumerate(kept, 1))


def _filters_arg(vendors: list[str]) -> str:
    return f", vendors={json.dumps(vendors)}" if vendors else ""


def _technique_review(tid: str, name: str, vendors: list[str], tools: set[str]) -> str:
    f = _filters_arg(vendors)
    steps = _steps([
        ("get_technique_coverage", f"Call get_technique_coverage(technique_id=\"{tid}\"{f}, "
         "limit=200). Note the rules per vendor and their `via` (exact tag, sub-technique "
         "roll-up, revoked or renamed ID), their levels and statuses, and the `events` they "
         "rely on. A vendor with no rule is a finding."),
        ("top_indicators", f"Call top_indicators(technique_id=\"{tid}\"{f}). `fields` and "
         "`indicators` say what the rules look for. Tests with a small `corpus_reach` or "
         "`specific_to_technique` are the distinctive ones; a test with a reach in the "
         "hundreds (event.category eq process) is context, not detection. Read `exclusions` "
         "for what the rules let through."),
        ("technique_telemetry", f"Call technique_telemetry(technique_id=\"{tid}\"{f}) to "
         "set the events ATT&CK's analytics recommend beside those the rules use: a "
         "recommended event no rule relies on is a blind spot."),
        ("get_rule", "Call get_rule on the two or three rules that carry the most weight "
         "(highest level, most specific tests) and on any with broad exclusions; read their "
         "detection tests and exclusions as an attacker looking for a way around them."),
        ("get_event_coverage", "For an event only one rule relies on, call "
         "get_event_coverage(provider, event_id) to see what else that telemetry serves."),
    ], tools)
    return (
        f"Review the detection coverage of ATT&CK {tid} ({name}) in the rulecat catalog"
        f"{' for ' + ', '.join(vendors) if vendors else ''}.\n\n{steps}\n\n"
        "Then write: a two-sentence verdict; a table per vendor (rules, levels, events); "
        "what the rules look for, in plain words; blind spots (sub-techniques, events or "
        "behaviours no rule covers, easy exclusion bypasses); and the three rules worth "
        "writing next, each naming the log event and the fields and values to test. "
        "Cite rule ids as the tools return them and give counts as the tools give them."
    )


def _tactic_summary(cat: Catalog, tactic: str, vendors: list[str]) -> tuple[str, str, str]:
    """The tactic's name, shortname, and one line of counts from the catalog."""
    from rulecat.index.answers import Filters
    from rulecat.index.pages.heatmap import gather

    heat = gather(cat, Filters(vendors=vendors or None))
    wanted = tactic.strip().casefold().replace(" ", "-")
    for col in heat.columns:
        if wanted in (col.tactic_id.casefold(), col.name.casefold().replace(" ", "-")):
            none = [c.id for c in col.cells if not c.rules]
            one = [c.id for c in col.cells if c.rules == 1]
            summary = (f"{len(col.cells)} techniques; {len(none)} with no rule "
                       f"({', '.join(none) or 'none'}); {len(one)} with one rule "
                       f"({', '.join(one) or 'none'}); sub-techniques rolled into parents")
            return col.name, col.name.lower().replace(" ", "-"), summary
    valid = ", ".join(c.name for c in heat.columns)
    raise MCPError(code=INVALID_PARAMS,
                   message=f"Unknown tactic {tactic!r}. Valid tactics: {valid}.")


def _gap_analysis(name: str, shortname: str, summary: str, vendors: list[str],
                  tools: set[str]) -> str:
    f = _filters_arg(vendors)
    steps = _steps([
        ("coverage_gaps", f"Call coverage_gaps(tactics=[\"{shortname}\"]{f}), then again "
         "with show=\"one_rule\". Read the techniques with no rule and with one rule, and "
         "the counts and percentages against the real denominator, per source."),
        ("get_technique_coverage", "For the uncovered techniques that matter most for this "
         "tactic, call get_technique_coverage(technique_id=...) to confirm: a rule may reach "
         "a technique through a revoked or renamed ID, or only through a sub-technique."),
        ("events_to_collect", f"Call events_to_collect(tactics=[\"{shortname}\"]{f}): "
         "the greedy marginal gain says which telemetry makes the most of this tactic's "
         "techniques detectable."),
        ("telemetry_gaps", f"Call telemetry_gaps(tactics=[\"{shortname}\"]{f}) for the "
         "techniques whose ATT&CK-recommended events no rule uses."),
        ("top_indicators", "For a technique with a single rule, call top_indicators to see "
         "how narrow that rule is."),
    ], tools)
    return (
        f"Analyse the detection gaps of the ATT&CK tactic {name} in the rulecat catalog"
        f"{' for ' + ', '.join(vendors) if vendors else ''}. The catalog says: {summary}.\n\n"
        f"{steps}\n\nThen write: coverage in one line (covered / total); a table of the "
        "uncovered techniques ranked by how much they matter (prevalence in real intrusions, "
        "ease of detection); the techniques hanging on one rule; the log events to collect "
        "first and what each buys; and five rules to write next, each naming the event and "
        "the fields to test."
    )


def _explain(rule_id: str, title: str, vendor: str, audience: str, tools: set[str]) -> str:
    steps = _steps([
        ("get_rule", f"Call get_rule(rule_id=\"{rule_id}\", include_raw=true) (also readable "
         f"as the resource rulecat://rule/{rule_id}). Read its description, techniques, "
         "log events, detection tests (grouped by selection), exclusions, false positives "
         "and, if `parsed` is false, `unparsed_reason`."),
        ("find_rules_by_field", "For the rule's most distinctive test (smallest "
         "`corpus_reach`), call find_rules_by_field(field=..., value=...) to see how other "
         "vendors' rules test the same thing."),
        ("get_technique_coverage", "Call get_technique_coverage for its main technique to "
         "place it among the other rules for that technique."),
        ("get_event_coverage", "For its main log event, call get_event_coverage(provider=..., "
         "event_id=...) to see what else relies on that telemetry."),
    ], tools)
    return (
        f"Explain the {vendor} detection rule \"{title}\" ({rule_id}) to an {audience}.\n\n"
        f"{steps}\n\nThen explain, in plain words: what behaviour it catches and why that "
        "matters (ATT&CK techniques); which log events must be collected for it to fire; "
        "each detection test (field, operator, value) and what it means; what the "
        "exclusions let through and how an attacker could fall inside them; how common "
        "each test is across the catalog (corpus reach: small means distinctive); and the "
        "likely false positives. Quote values exactly as the rule has them."
    )


def _field_compare(field: str, value: str, tools: set[str]) -> str:
    args = f"field=\"{field}\"" + (f", value=\"{value}\"" if value else "")
    steps = _steps([
        ("find_rules_by_field", f"Call find_rules_by_field({args}, limit=50) and page with "
         "`next`. `aliases` lists each vendor's spelling of the field; each rule lists its "
         "matching tests labelled detect or exclude."),
        ("get_rule", "Call get_rule on one representative rule per vendor."),
        ("search_rules", "For values no rule tests under this field, call "
         "search_rules(query=...) with the value: another field may carry it."),
    ], tools)
    return (
        f"Compare how Sigma, Elastic and Splunk rules in the rulecat catalog test the field "
        f"{field}{' for values like ' + value if value else ''}.\n\n{steps}\n\n"
        "Then write: each vendor's spelling; the operators and values used, per vendor; "
        "where vendors agree and differ (exact name vs path suffix, case, wildcards); "
        "which values only one vendor tests; and what a portable rule should test."
    )


# -- completions -------------------------------------------------------------------------


def _argument_kind(ref: PromptReference | ResourceTemplateReference, name: str) -> str:
    """What an argument names: technique, rule, field, provider, event_id, tactic, vendor."""
    if isinstance(ref, ResourceTemplateReference) and name == "tool":
        return "tool"
    if isinstance(ref, ResourceTemplateReference) and name == "id":
        return "rule" if ref.uri.startswith("rulecat://rule/") else "technique"
    return {"technique_id": "technique", "rule_id": "rule", "field": "field",
            "provider": "provider", "event_id": "event_id", "tactic": "tactic",
            "vendors": "vendor"}.get(name, "")


class CatalogNames:
    """The names completions offer, read from the catalog once, best first."""

    def __init__(self, context: ToolContext) -> None:
        self._context = context
        self._lists: dict[str, list[tuple[str, str]]] = {}
        self._build = ""  # the build the cached lists came from

    def complete(self, kind: str, typed: str, known: dict[str, str]) -> Completion | None:
        """Values for `kind` starting with `typed`, then those containing it (in label)."""
        if kind == "event_id":  # '2' offers 2, 22, 23, not 12; titles match too ('dns')
            return _matches(self._event_ids(known.get("provider", "")), typed, inner=False)
        if kind:
            return _matches(self._list(kind), typed)
        return None

    def _list(self, kind: str) -> list[tuple[str, str]]:
        with self._context.catalog() as cat:
            build = cat.meta.get("build_id", "")
            if build != self._build:  # a rebuild was swapped in: read the names again
                self._lists, self._build = {}, build
            if kind not in self._lists:
                self._lists[kind] = _READERS[kind](cat)
        return self._lists[kind]

    def _event_ids(self, provider: str) -> list[tuple[str, str]]:
        with self._context.catalog() as cat:
            rows = cat.db.execute(
                "SELECT e.event_id, COALESCE(ev.title, ''), COUNT(DISTINCT e.rule) AS n "
                "FROM rule_events e LEFT JOIN events ev ON ev.provider = e.provider "
                "AND ev.event_id = e.event_id WHERE e.provider = ? COLLATE NOCASE "
                "GROUP BY e.event_id ORDER BY n DESC, e.event_id", (provider,)).fetchall()
        return [(str(r[0]), r[1]) for r in rows]


def _matches(items: list[tuple[str, str]], typed: str, inner: bool = True) -> Completion:
    """(value, label) items: value prefix matches first, then label substrings (and value
    substrings when `inner`), each in the items' own order."""
    want = (typed or "").strip().casefold()
    first = [v for v, _ in items if v.casefold().startswith(want)]
    seen = set(first)
    rest = [v for v, label in items if v not in seen and want
            and ((inner and want in v.casefold()) or want in label.casefold())]
    values = first + rest
    return Completion(values=values[:MAX_COMPLETIONS], total=len(values),
                      has_more=len(values) > MAX_COMPLETIONS)


def _techniques(cat: Catalog) -> list[tuple[str, str]]:
    """Live techniques of the loaded ATT&CK version, by ID, with their names as labels."""
    rows = cat.db.execute("SELECT id, name FROM techniques WHERE known = 1 AND deprecated = 0 "
                          "AND revoked_by IS NULL ORDER BY id")
    return [(r[0], r[1]) for r in rows]


def _rules(cat: Catalog) -> list[tuple[str, str]]:
    rows = cat.db.execute("SELECT id, title FROM rules ORDER BY deprecated, id")
    return [(r[0], r[1]) for r in rows]


def _fields(cat: Catalog) -> list[tuple[str, str]]:
    """Canonical fields and vendor spellings, most tested first."""
    rows = cat.db.execute(
        "SELECT name, SUM(n) AS uses FROM (SELECT field AS name, COUNT(*) AS n FROM predicates "
        "WHERE field IS NOT NULL GROUP BY field UNION ALL SELECT vendor_field, COUNT(*) "
        "FROM predicates WHERE vendor_field IS NOT NULL GROUP BY vendor_field) "
        "GROUP BY name ORDER BY uses DESC, name")
    return [(r[0], "") for r in rows]


def _providers(cat: Catalog) -> list[tuple[str, str]]:
    from rulecat.index.analytics.events import providers

    return [(name, "") for name in providers(cat)]


def _tactics(cat: Catalog) -> list[tuple[str, str]]:
    rows = cat.db.execute("SELECT shortname, name, id FROM tactics ORDER BY ord")
    return [(r[0], f"{r[1]} {r[2]}") for r in rows]


def _vendors(cat: Catalog) -> list[tuple[str, str]]:
    return [(v, "") for v in VENDORS]


_READERS: dict[str, Callable[[Catalog], list[tuple[str, str]]]] = {
    "technique": _techniques, "rule": _rules, "field": _fields, "provider": _providers,
    "tactic": _tactics, "vendor": _vendors,
}

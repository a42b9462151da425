r"""Field registry: canonical (ECS) field names and every vendor's spelling of them.

Where the aliases come from:

* **Sigma -> ECS** is derived at load time from pySigma's installed Elasticsearch
  pipelines (`ecs_windows`, `ecs_zeek_beats`, `ecs_kubernetes`, `ecs_macos_esf`): every
  `FieldMappingTransformation` is read together with the logsource its processing item
  applies to. The Windows pipeline's rule "prefix any other field with
  `winlog.event_data.`" is read from its `AddFieldnamePrefixTransformation` too.
* **Splunk CIM -> ECS** is derived from pySigma's Splunk data-model pipeline
  (`Image -> Processes.process_path`, ...), joined through the Sigma name: the CIM field
  gets the canonical name the Sigma field has under the same logsource.
* **Elastic** names are ECS already. `winlog.event_data.X` joins through Sigma `X`.
* `fields.yaml` adds hand entries (and overrides a few derived ones, saying why).

Decisions:

* A Sigma field is resolved for the rule's logsource in tiers: hand entries scoped by
  category/service, derived ones so scoped, hand entries for every logsource, derived
  product-wide ones; then Windows logsources take pySigma's `winlog.event_data.` prefix
  (as the Elasticsearch backend would), other logsources the best scope-free guess.
* Lookups ignore case; `.caseless` / `.keyword` / `.text` / `.wildcard` suffixes are
  dropped. An Elastic field no table knows maps to itself (ECS is the vocabulary);
  `winlog.event_data.X` maps like Sigma `X` without a logsource (hand or Windows-wide
  entries only), else stays as written. Splunk data-model prefixes are optional, and a
  CamelCase Splunk field (`Image`, `CommandLine`) is read as the Windows event field of
  that name: its best scope-free reading, else the `winlog.event_data.` name.
* An unmapped field keeps its vendor spelling as `field`; `normalize_predicate` returns
  False so the build can count it (`UnmappedFields`).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal

from . import load_table
from ..models import LogSource, Predicate, RuleRecord

Origin = Literal["pysigma", "hand"]

SUFFIXES = (".caseless", ".keyword", ".text", ".wildcard")
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_@$][\w@$.\-]*$")
_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PINNED_NAME = re.compile(r"^\*[\\/]+([^\\/*?]+)$")
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class Scope:
    """The logsources a Sigma alias applies to; None matches anything."""

    product: str | None = None
    category: str | None = None
    service: str | None = None

    def matches(self, logsource: LogSource | None) -> bool:
        ls = logsource or LogSource()
        pairs = ((self.product, ls.product), (self.category, ls.category),
                 (self.service, ls.service))
        return all(want is None or want == (have or "").lower() for want, have in pairs)

    @property
    def narrow(self) -> bool:
        """Scoped by category or service (not just a product)."""
        return self.category is not None or self.service is not None

    @property
    def specificity(self) -> int:
        return sum(v is not None for v in (self.product, self.category, self.service))

    def logsource(self) -> LogSource:
        return LogSource(product=self.product, category=self.category, service=self.service)


@dataclass(frozen=True)
class Alias:
    """One vendor spelling of a canonical field, and where rulecat got it."""

    vendor: str
    name: str
    canonical: str
    origin: Origin
    scope: Scope = Scope()


# --------------------------------------------------------------------------- derivation


def _clean(target: str) -> str | None:
    """A pipeline's target field without multi-field suffix; None unless a dotted name.

    (Zeek's pipeline has a few raw, undotted targets such as `query`; ECS names nest.)
    """
    name = strip_suffix(target.split()[0]) if target.strip() else ""
    return name if _FIELD_NAME.match(name) and "." in name else None


def _target(value: Any) -> str | None:
    """One canonical target from a mapping value (lists: prefer the `.ip` field)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    names = [n for v in values if isinstance(v, str) and (n := _clean(v))]
    return next((n for n in names if n.endswith(".ip")), names[0] if names else None)


def _item_scopes(item: Any) -> list[Scope]:
    """The logsources a processing item's rule conditions name ([Scope()] if none)."""
    from sigma.processing.conditions import LogsourceCondition

    scopes = [
        Scope(*(None if v is None else str(v).lower() for v in (
            c.logsource.product, c.logsource.category, c.logsource.service)))
        for c in item.rule_conditions if isinstance(c, LogsourceCondition)
    ]
    return scopes or [Scope()]


def _mapping_items(pipeline: Any) -> Iterator[tuple[Any, dict[Any, Any]]]:
    from sigma.processing.transformations import FieldMappingTransformation

    for item in pipeline.items:
        if isinstance(item.transformation, FieldMappingTransformation):
            yield item, item.transformation.mapping


def _ecs_pipelines() -> list[tuple[Any, list[Scope] | None]]:
    """pySigma's ECS pipelines, with a scope where the items carry none usable."""
    from sigma.pipelines.elasticsearch import kubernetes, macos, windows, zeek

    zeek_scopes = [Scope("zeek")] + [
        Scope(category=c) for c in zeek.ecs_zeek_beats_category_service_mapping
    ]
    return [
        (windows.ecs_windows(), None),
        (zeek.ecs_zeek_beats(), zeek_scopes),  # items say product zeek; categories redirect
        (kubernetes.ecs_kubernetes(), [Scope("kubernetes")]),  # its mapping item has none
        (macos.ecs_macos_esf(), None),
    ]


def derive_sigma_aliases() -> tuple[list[Alias], str | None]:
    """Sigma -> ECS aliases from pySigma's ECS pipelines, and the Windows field prefix."""
    from sigma.processing.transformations import AddFieldnamePrefixTransformation

    aliases: list[Alias] = []
    prefix: str | None = None
    for pipeline, forced in _ecs_pipelines():
        for item in pipeline.items:
            if isinstance(item.transformation, AddFieldnamePrefixTransformation):
                prefix = prefix or item.transformation.prefix
        for item, mapping in _mapping_items(pipeline):
            for scope in forced or _item_scopes(item):
                aliases.extend(
                    Alias("sigma", name, target, "pysigma", scope)
                    for name, value in mapping.items()
                    if (target := _target(value))
                )
    return aliases, prefix


def derive_sigma_values() -> dict[tuple[str, str], str]:
    """{(ECS field, Sigma value): ECS value} from ecs_windows' SetValueTransformations.

    e.g. Sigma `Initiated: 'true'` is `network.direction: egress` in ECS.
    """
    from sigma.pipelines.elasticsearch.windows import ecs_windows
    from sigma.processing.conditions import IncludeFieldCondition, MatchValueCondition
    from sigma.processing.transformations import SetValueTransformation

    values: dict[tuple[str, str], str] = {}
    for item in ecs_windows().items:
        if not isinstance(item.transformation, SetValueTransformation):
            continue
        new = str(item.transformation.sigma_value.to_plain())
        fields = [f for c in item.field_name_conditions if isinstance(c, IncludeFieldCondition)
                  and c.mode == "plain" for f in c.fields]
        olds = [_plain(c.value) for c in item.detection_item_conditions
                if isinstance(c, MatchValueCondition)]
        values.update(((f, old), new) for f in fields for old in olds)
    return values


def _plain(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def derive_splunk_pairs() -> list[tuple[str, str, Scope]]:
    """(Sigma or ECS field, CIM field, logsource) from pySigma's Splunk CIM pipeline."""
    from sigma.pipelines.splunk.splunk import splunk_cim_data_model

    pairs: list[tuple[str, str, Scope]] = []
    for item, mapping in _mapping_items(splunk_cim_data_model()):
        for scope in _item_scopes(item):
            pairs.extend(
                (name, cim, scope) for name, value in mapping.items() if (cim := _target(value))
            )
    return pairs


# --------------------------------------------------------------------------- helpers


def strip_suffix(name: str) -> str:
    """`process.name.caseless` -> `process.name` (Elasticsearch multi-field suffixes)."""
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _hand_scopes(spec: dict[str, Any]) -> list[Scope]:
    """Scopes of one `scoped:` entry; a list value means each of its items."""
    keys = ("product", "category", "service")
    values = [spec.get(k) for k in keys]
    lists = [v if isinstance(v, list) else [v] for v in values]
    return [
        Scope(*(None if x is None else str(x).lower() for x in combo))
        for combo in itertools.product(*lists)
    ]


def _tier(alias: Alias) -> tuple[int, int]:
    """Sort key: hand narrow, derived narrow, hand broad, derived broad; then specificity."""
    tier = (0 if alias.scope.narrow else 2) + (0 if alias.origin == "hand" else 1)
    return tier, -alias.scope.specificity


# --------------------------------------------------------------------------- registry


class FieldRegistry:
    """Canonical field names and aliases; build once with `FieldRegistry.load()`."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._prefix: str | None = None
        self._sigma: dict[str, list[Alias]] = defaultdict(list)
        self._unscoped: dict[str, Alias] = {}
        self._free: dict[str, Alias] = {}
        self._splunk: dict[str, Alias] = {}
        self._splunk_bare: dict[str, Alias] = {}
        self._elastic: dict[str, Alias] = {}
        self._overridden = 0
        self._dm_prefixes = {p.lower() for p in data.get("splunk_datamodel_prefixes", [])}
        self._build_families(data.get("families") or {})
        self._build_sigma(data.get("sigma") or {})
        self._sigma_values = derive_sigma_values()
        self._build_splunk(data.get("splunk") or {})
        self._build_elastic(data.get("elastic") or {})
        self._build_names(data.get("canonical") or [])

    @classmethod
    def load(cls) -> FieldRegistry:
        """The registry built from pySigma's pipelines and `fields.yaml` (cached)."""
        return _load_registry()

    # ----------------------------------------------------------------- construction

    def _build_families(self, families: dict[str, list[str]]) -> None:
        self._family: dict[str, str] = {}
        for name, paths in families.items():
            self._family[name] = name
            self._family.update((path, name) for path in paths)

    def _build_sigma(self, hand: dict[str, Any]) -> None:
        derived, self._prefix = derive_sigma_aliases()
        hand_aliases = [
            Alias("sigma", k, v, "hand") for k, v in (hand.get("global") or {}).items()
        ]
        for entry in hand.get("scoped") or []:
            for scope in _hand_scopes(entry.get("logsource") or {}):
                hand_aliases.extend(
                    Alias("sigma", k, v, "hand", scope) for k, v in entry["fields"].items()
                )
        taken = {(a.name.lower(), a.scope) for a in hand_aliases}
        kept = [a for a in derived if (a.name.lower(), a.scope) not in taken]
        self._overridden = len({(a.name.lower(), a.scope) for a in derived} & taken)
        for alias in _dedupe(hand_aliases + kept):
            self._sigma[alias.name.lower()].append(alias)
        for aliases in self._sigma.values():
            aliases.sort(key=_tier)
        self._build_sigma_fallbacks()

    def _build_sigma_fallbacks(self) -> None:
        """Scope-free readings: `_unscoped` (hand global, then Windows-wide) and `_free`."""
        for key, aliases in self._sigma.items():
            broad = [a for a in aliases if not a.scope.narrow and a.scope.product in
                     (None, "windows")]
            if broad:
                self._unscoped[key] = broad[0]
            votes = Counter(a.canonical for a in aliases)
            majority = max(aliases, key=lambda a: (votes[a.canonical], _favoured(a.scope)))
            self._free[key] = broad[0] if broad else majority

    def _build_splunk(self, hand: dict[str, str]) -> None:
        aliases = [Alias("splunk", k, v, "hand") for k, v in hand.items()]
        for name, cim, scope in derive_splunk_pairs():
            canonical = name if "." in name else self._sigma_canonical(name, scope.logsource())
            if canonical:
                aliases.append(Alias("splunk", cim, canonical, "pysigma"))
        for alias in _dedupe(aliases, by_scope=False):
            self._splunk.setdefault(alias.name.lower(), alias)
            self._splunk_bare.setdefault(self._bare(alias.name).lower(), alias)

    def _build_elastic(self, hand: dict[str, str]) -> None:
        aliases = [Alias("elastic", k, v, "hand") for k, v in hand.items()]
        if self._prefix:
            aliases.extend(
                Alias("elastic", self._prefix + a.name, a.canonical, "pysigma")
                for a in self._unscoped.values()
                if not a.canonical.startswith(self._prefix)
            )
        for alias in _dedupe(aliases, by_scope=False):
            self._elastic.setdefault(alias.name.lower(), alias)

    def _build_names(self, extra: list[str]) -> None:
        names = set(extra) | set(self._family)
        for table in (self._splunk, self._elastic):
            names.update(a.canonical for a in table.values())
        names.update(a.canonical for aliases in self._sigma.values() for a in aliases)
        self._names = sorted(names)
        self._lower_names = {n.lower(): n for n in self._names}
        self._popularity = Counter({n: 0 for n in self._names})
        self._popularity.update(
            c for _, _, _, c in {(a.vendor, a.name.lower(), a.origin, a.canonical)
                                 for a in self._all_aliases()}
        )

    # ----------------------------------------------------------------- lookups

    def canonical(
        self, vendor: str, vendor_field: str, logsource: LogSource | None = None
    ) -> str | None:
        """The canonical name of a vendor's field, or None when rulecat cannot map it."""
        if vendor == "sigma":
            return self._sigma_canonical(vendor_field, logsource)
        if vendor == "splunk":
            return self._splunk_canonical(vendor_field)
        if vendor == "elastic":
            return self._elastic_canonical(vendor_field)
        return self.resolve_any(vendor_field)

    def _sigma_canonical(self, name: str, logsource: LogSource | None) -> str | None:
        key = name.lower()
        for alias in self._sigma.get(key, ()):
            if alias.scope.matches(logsource):
                return alias.canonical
        if _is_windows(logsource):
            return self._windows_default(name)
        free = self._free.get(key)
        return free.canonical if free else None

    def _windows_default(self, name: str) -> str | None:
        """pySigma's ECS rule for other Windows fields: prefix them, unless dotted already."""
        if "." in name:
            return self._lower_names.get(name.lower(), name)
        return self._prefix + name if self._prefix and _FIELD_NAME.match(name) else None

    def _splunk_canonical(self, name: str) -> str | None:
        if alias := self._splunk.get(name.lower()):
            return alias.canonical
        bare = self._bare(name)
        if alias := self._splunk_bare.get(bare.lower()):
            return alias.canonical
        if _CAMEL.match(bare):
            alias = self._free.get(bare.lower())
            return alias.canonical if alias else self._windows_default(bare)
        return None

    def _elastic_canonical(self, name: str) -> str:
        name = strip_suffix(name)
        if alias := self._elastic.get(name.lower()):
            return alias.canonical
        return self._lower_names.get(name.lower(), name)

    def resolve_any(self, name: str) -> str | None:
        """Canonical name for any vendor's spelling (tool input), ignoring case."""
        name = strip_suffix(name.strip())
        key = name.lower()
        if key in self._lower_names:
            return self._lower_names[key]
        for table in (self._elastic, self._free, self._splunk, self._splunk_bare):
            if alias := table.get(key):
                return alias.canonical
        if self._is_prefixed(name):
            return self._elastic_canonical(name)
        if self._bare(name) != name:
            return self._splunk_canonical(name)
        return None

    def closest(self, name: str, n: int = 5) -> list[str]:
        """Canonical names whose spellings look most like `name` ("did you mean")."""
        key = name.strip().lower()
        spellings = self._spellings()
        found = [spellings[s] for s in difflib.get_close_matches(key, spellings, n * 3, 0.6)]
        containing = {spellings[s] for s in spellings if key and key in s}
        found += sorted(containing, key=lambda c: (-self._popularity[c], len(c), c))
        return list(dict.fromkeys(found))[:n]

    def sigma_value(self, field: str, value: str) -> str:
        """A Sigma value as ECS data holds it (`network.direction` `true` -> `egress`)."""
        return self._sigma_values.get((field, value), value)

    def family(self, field: str) -> str:
        """The "fields filtered most" row a field counts under (itself if in no family)."""
        return self._family.get(field, field)

    def family_members(self, family: str) -> list[str]:
        return sorted(f for f, fam in self._family.items() if fam == family)

    def fold_name(self, field: str, value: str) -> tuple[str, str] | None:
        r"""`(name field, NAME)` when a wildcard value `*\NAME` pins a family's name."""
        family = self._family.get(field)
        match = _PINNED_NAME.match(value) if family else None
        return (family, match.group(1)) if family and match else None

    def aliases(self, canonical: str) -> list[tuple[str, str]]:
        """Every (vendor, vendor field) rulecat maps to `canonical`."""
        found = {("elastic", canonical)} if canonical in self._lower_names.values() else set()
        for alias in self._all_aliases():
            if alias.canonical == canonical:
                found.add((alias.vendor, alias.name))
        return sorted(found)

    def canonical_fields(self) -> list[str]:
        return list(self._names)

    def families(self) -> dict[str, str]:
        """Every canonical field and the family row it counts under."""
        return {name: self.family(name) for name in self._names} | dict(self._family)

    def alias_rows(self) -> Iterator[tuple[str, str, str]]:
        """(canonical, vendor, vendor field) for every alias, for the catalog's look-ups."""
        for alias in self._all_aliases():
            yield alias.canonical, alias.vendor, alias.name
            if alias.vendor == "splunk" and (bare := self._bare(alias.name)) != alias.name:
                yield alias.canonical, alias.vendor, bare

    def is_unscoped_prefix(self, field: str) -> bool:
        """True for a `winlog.event_data.*` name (mapped only by pySigma's prefix rule)."""
        return self._is_prefixed(field)

    def stats(self) -> dict[str, Any]:
        """Alias counts by origin and vendor, for the build report.

        An alias is a distinct (vendor, spelling, canonical name); the same Sigma mapping
        under several logsources counts once.
        """
        counts: dict[str, Counter[str]] = {"pysigma": Counter(), "hand": Counter()}
        distinct = {(a.origin, a.vendor, a.name.lower(), a.canonical) for a in self._all_aliases()}
        for origin, vendor, _, _ in distinct:
            counts[origin][vendor] += 1
        return {
            "derived": dict(counts["pysigma"]) | {"total": sum(counts["pysigma"].values())},
            "hand": dict(counts["hand"]) | {"total": sum(counts["hand"].values())},
            "overridden_by_hand": self._overridden,
            "canonical_fields": len(self._names),
            "families": len(set(self._family.values())),
            "windows_prefix": self._prefix,
        }

    # ----------------------------------------------------------------- internals

    def _all_aliases(self) -> Iterator[Alias]:
        for aliases in self._sigma.values():
            yield from aliases
        yield from self._splunk.values()
        yield from self._elastic.values()

    def _spellings(self) -> dict[str, str]:
        spellings = {n.lower(): n for n in self._names}
        for alias in self._all_aliases():
            spellings.setdefault(alias.name.lower(), alias.canonical)
        return spellings

    def _bare(self, name: str) -> str:
        """A Splunk field without its data-model prefix (`Processes.x` -> `x`)."""
        head, dot, rest = name.partition(".")
        known = head.lower() in self._dm_prefixes or head[:1].isupper()
        return rest if dot and rest and known else name

    def _is_prefixed(self, name: str) -> bool:
        return self._prefix is not None and name.lower().startswith(self._prefix.lower())


def _favoured(scope: Scope) -> bool:
    """Tie-break for scope-free readings: the process_creation reading (most Sigma rules)."""
    return scope.category == "process_creation"


def _is_windows(logsource: LogSource | None) -> bool:
    return logsource is not None and (logsource.product or "").lower() == "windows"


def _dedupe(aliases: Iterable[Alias], by_scope: bool = True) -> list[Alias]:
    """First alias per (name, scope), ignoring case."""
    seen: set[tuple[str, Scope | None]] = set()
    out: list[Alias] = []
    for alias in aliases:
        key = (alias.name.lower(), alias.scope if by_scope else None)
        if key not in seen:
            seen.add(key)
            out.append(alias)
    return out


@cache
def _load_registry() -> FieldRegistry:
    return FieldRegistry(load_table("fields.yaml"))


# --------------------------------------------------------------------------- predicates


def _fold_case(value: str, case_sensitive: bool) -> str:
    return value if case_sensitive else value.lower()


def _number(value: str) -> str | None:
    """Canonical text of a number (`0010` -> `10`, `1.50` -> `1.5`); None if not one."""
    text = value.strip()
    if _INTEGER.match(text):
        return str(int(text))
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return format(number.normalize(), "f") if number.is_finite() else None


def indicator_value(pred: Predicate) -> str:
    """The comparable form of a predicate's value (see `normalize_predicate`)."""
    value = pred.value
    if pred.operator in ("gt", "gte", "lt", "lte"):
        return _number(value) or value.strip()
    if pred.operator == "eq" and _INTEGER.match(value.strip()):
        return str(int(value.strip()))
    if pred.operator in ("exists", "cidr"):
        return value.strip().lower()
    return _fold_case(value, pred.case_sensitive)


def normalize_predicate(
    pred: Predicate, vendor: str, logsource: LogSource | None, registry: FieldRegistry
) -> bool:
    r"""Fill `field` and the indicator key; return False when the field stayed unmapped.

    * unmapped field: `field` is the vendor field as written (nothing is lost);
    * `match` keywords: no field, indicator `(None, match, value)`;
    * values: case-folded unless `case_sensitive`; integers (and numbers compared with
      gt/gte/lt/lte) in canonical text; `exists` / `cidr` lower-cased;
    * `fieldref`: the value is the other field's canonical name;
    * Sigma values pySigma rewrites for ECS are rewritten (`Initiated: true` -> `egress`);
    * a wildcard `*\NAME` (or `*/NAME`) on a family member (`process.executable`, ...)
      becomes `(family name field, eq, NAME)`: a path test that pins the file name.
    """
    if pred.operator == "match" or not pred.vendor_field:
        pred.field = pred.ind_field = None
        pred.ind_operator, pred.ind_value = "match", _fold_case(pred.value, pred.case_sensitive)
        return True
    canonical = registry.canonical(vendor, pred.vendor_field, logsource)
    pred.field = canonical or pred.vendor_field
    pred.ind_field, pred.ind_operator = pred.field, pred.operator
    pred.ind_value = _indicator_value(pred, vendor, logsource, registry)
    if pred.operator == "wildcard" and (folded := registry.fold_name(pred.field, pred.ind_value)):
        pred.ind_field, pred.ind_value = folded
        pred.ind_operator = "eq"
    return canonical is not None


def _indicator_value(
    pred: Predicate, vendor: str, logsource: LogSource | None, registry: FieldRegistry
) -> str:
    if pred.operator == "fieldref":
        return registry.canonical(vendor, pred.value, logsource) or pred.value
    value = indicator_value(pred)
    if vendor == "sigma" and pred.operator == "eq" and pred.field:
        return registry.sigma_value(pred.field, value)
    return value


@dataclass
class UnmappedField:
    vendor: str
    vendor_field: str
    rules: int
    predicates: int


class UnmappedFields:
    """Collects (vendor, vendor field) pairs no table maps, with rule and predicate counts."""

    def __init__(self) -> None:
        self._rules: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._predicates: Counter[tuple[str, str]] = Counter()

    def add(self, vendor: str, vendor_field: str, rule_id: str) -> None:
        self._rules[(vendor, vendor_field)].add(rule_id)
        self._predicates[(vendor, vendor_field)] += 1

    def rows(self, limit: int | None = None) -> list[UnmappedField]:
        """Most rules first."""
        rows = [
            UnmappedField(v, f, len(ids), self._predicates[(v, f)])
            for (v, f), ids in self._rules.items()
        ]
        rows.sort(key=lambda r: (-r.rules, -r.predicates, r.vendor, r.vendor_field))
        return rows[:limit] if limit is not None else rows

    def __len__(self) -> int:
        return len(self._rules)


def normalize_rule(
    rule: RuleRecord, registry: FieldRegistry, unmapped: UnmappedFields | None = None
) -> int:
    """Normalize every predicate of a rule; return how many stayed unmapped."""
    missed = 0
    for pred in rule.predicates:
        if not normalize_predicate(pred, rule.vendor, rule.logsource, registry):
            missed += 1
            if unmapped is not None and pred.vendor_field:
                unmapped.add(rule.vendor, pred.vendor_field, rule.id)
    return missed

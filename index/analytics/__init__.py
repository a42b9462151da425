"""Coverage analytics over a built catalog: the whole matrix rather than one technique.

Each module is a few functions taking a read-only `Catalog` and returning the models of
`models.py`; the MCP tools and CLI commands call them.

* `events`: which techniques and rules rely on a log event; events with rule counts.
* `gaps`: per tactic, techniques with no rule, one rule, or covered.
* `collect`: which events to collect first (greedy marginal gain in techniques).
* `telemetry`: ATT&CK's analytics (what MITRE says to collect) against the rules' events.
* `layer`: an ATT&CK Navigator layer (format 4.5) scored by rule count.
* `log_sources`: the build step that turns analytics' log sources into events.
* `scope`: what they share: the technique universe, rule sets per technique, filters.
"""

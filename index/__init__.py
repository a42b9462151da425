"""rulecat.index: build and read the rule catalog. Knows nothing of MCP."""

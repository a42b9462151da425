"""rulecat.server: the MCP server and the command line, thin glue over rulecat.index."""

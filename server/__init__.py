"""rulecat.server: the MCP server and the command line, thin glue over rulecat.index."""


def package_version() -> str:
    """The installed rulecat's version ("0" when run from a tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rulecat")
    except PackageNotFoundError:
        return "0"

"""Sources config, `rulecat sync` and the sync cache (installed as `rulecat.index.sync`).

    sources.toml --config.py--> sources --fetch.py--> archive --unpack.py--> cache folder
                                                                                 │
             catalog <--build_catalog-- BuildInputs <--inputs.py-- local folders + ┘

- `config.py`: the TOML file (path: `--config`, `$RULECAT_CONFIG`, user config dir), its
  defaults (SigmaHQ, Elastic, Splunk, ATT&CK 18.1), locations and the cache directory.
- `fetch.py`: HTTPS downloads with httpx2, size and SHA-256 checks.
- `unpack.py`: safe tar/zip extraction with limits; the commit from the archive.
- `cache.py`: the cache layout and the all-or-nothing swap of a source's folder.
- `sync.py`: one sync of every enabled remote source.
- `inputs.py`: build inputs from the config; each source's state for `rulecat sources`.
- `errors.py`: the exception tree.
"""

-- The rulecat catalog: one SQLite file, written once per build, then only read.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sources (
    name    TEXT PRIMARY KEY,
    vendor  TEXT NOT NULL,
    root    TEXT NOT NULL,
    files   INTEGER NOT NULL,
    rules   INTEGER NOT NULL
);

-- Rule rowids follow the sources' reading order (source, file, document) with gaps
-- between files (store/files.py), so a rebuild can put a changed file's rules in place.
CREATE TABLE rules (
    rowid           INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,          -- <source>:<native id>
    source          TEXT NOT NULL REFERENCES sources(name),
    vendor          TEXT NOT NULL,
    native_id       TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT,
    level           TEXT,
    level_rank      INTEGER NOT NULL,              -- critical 0 ... informational 4, none 5
    deprecated      INTEGER NOT NULL,
    author          TEXT,
    license         TEXT,
    date            TEXT,
    modified        TEXT,
    language        TEXT,
    rule_type       TEXT,
    path            TEXT NOT NULL,
    url             TEXT,
    parsed          INTEGER NOT NULL,
    unparsed_reason TEXT,
    doc             TEXT NOT NULL,                 -- JSON: tags, references, logsource, ...
    raw             TEXT NOT NULL
);
CREATE INDEX rules_native ON rules(native_id);
-- Covers the shared filters, so whole-matrix answers read no rule text (5x faster).
CREATE INDEX rules_filter ON rules(deprecated, source, vendor, level_rank);
-- Covers the build report's counts, so deriving them reads no rule text.
CREATE INDEX rules_report ON rules(source, language, parsed, deprecated);

CREATE TABLE predicates (
    rule           INTEGER NOT NULL REFERENCES rules(rowid),
    seq            INTEGER NOT NULL,
    vendor_field   TEXT,
    field          TEXT,
    family         TEXT,
    operator       TEXT NOT NULL,
    value          TEXT NOT NULL,
    polarity       TEXT NOT NULL,
    selection      TEXT,
    transforms     TEXT NOT NULL,                  -- JSON list
    case_sensitive INTEGER NOT NULL,
    ind_field      TEXT,
    ind_operator   TEXT NOT NULL,
    ind_value      TEXT NOT NULL,
    PRIMARY KEY (rule, seq)
) WITHOUT ROWID;
-- Covers find_rules_by_field's value test, so non-matching rows are never fetched.
CREATE INDEX predicates_family ON predicates(family, polarity, value, ind_value);
CREATE INDEX predicates_indicator ON predicates(ind_field, ind_operator, ind_value);

-- Corpus reach: distinct non-deprecated rules, all sources, with a detect predicate on it;
-- exclude_reach: the same for exclude predicates (how common an exclusion is).
CREATE TABLE indicators (
    ind_field     TEXT,
    ind_operator  TEXT NOT NULL,
    ind_value     TEXT NOT NULL,
    reach         INTEGER NOT NULL,
    exclude_reach INTEGER NOT NULL,
    PRIMARY KEY (ind_field, ind_operator, ind_value)
);

CREATE TABLE tactics (
    id        TEXT PRIMARY KEY,
    shortname TEXT NOT NULL UNIQUE,
    name      TEXT NOT NULL,
    ord       INTEGER NOT NULL
);

CREATE TABLE techniques (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    tactics     TEXT NOT NULL,                     -- JSON list of shortnames
    platforms   TEXT NOT NULL,                     -- JSON list
    parent      TEXT,
    deprecated  INTEGER NOT NULL,
    revoked_by  TEXT,
    url         TEXT,
    known       INTEGER NOT NULL,                  -- in the loaded ATT&CK version
    flags       TEXT NOT NULL                      -- JSON list, see attack/matching.py
);
CREATE INDEX techniques_parent ON techniques(parent);

-- Technique IDs exactly as rules are tagged (after case normalisation).
CREATE TABLE rule_techniques (
    rule      INTEGER NOT NULL REFERENCES rules(rowid),
    technique TEXT NOT NULL,
    known     INTEGER NOT NULL,                    -- in the loaded ATT&CK version
    PRIMARY KEY (rule, technique)
) WITHOUT ROWID;

-- Every technique answer a rule belongs to, and why (DESIGN.md "Techniques").
CREATE TABLE technique_rules (
    technique TEXT NOT NULL,
    rule      INTEGER NOT NULL REFERENCES rules(rowid),
    via       TEXT NOT NULL,
    tagged    TEXT NOT NULL,
    rollup    INTEGER NOT NULL,                    -- reached through a sub-technique's parent
    PRIMARY KEY (technique, rule, rollup)
) WITHOUT ROWID;

CREATE TABLE events (
    provider TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    title    TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) WITHOUT ROWID;

-- title: the one the rule gave (first non-empty), NULL when none; `events` takes each
-- event's title from the first rule giving one, else from the event catalog.
-- clauses: the rule's requirements the event can meet, one bit each (EventRef.clauses); a
-- rule is usable once every bit of the OR of its rows' clauses has a collected event.
CREATE TABLE rule_events (
    rule     INTEGER NOT NULL REFERENCES rules(rowid),
    provider TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    origin   TEXT NOT NULL,
    title    TEXT,
    clauses  INTEGER NOT NULL,
    PRIMARY KEY (rule, provider, event_id)
) WITHOUT ROWID;

-- Vendor fields no mapping table knows, per rule (the build report's unmapped fields).
CREATE TABLE rule_unmapped (
    rule         INTEGER NOT NULL REFERENCES rules(rowid),
    vendor_field TEXT NOT NULL,
    predicates   INTEGER NOT NULL,
    PRIMARY KEY (rule, vendor_field)
) WITHOUT ROWID;

-- Tags shaped like technique IDs that are not one, per rule (the build report's list).
CREATE TABLE rule_malformed_tags (
    rule INTEGER NOT NULL REFERENCES rules(rowid),
    seq  INTEGER NOT NULL,
    tag  TEXT NOT NULL,
    PRIMARY KEY (rule, seq)
) WITHOUT ROWID;

CREATE TABLE field_aliases (
    field        TEXT NOT NULL,
    vendor       TEXT NOT NULL,
    vendor_field TEXT NOT NULL,
    PRIMARY KEY (field, vendor, vendor_field)
) WITHOUT ROWID;
CREATE INDEX field_aliases_spelling ON field_aliases(vendor_field COLLATE NOCASE);

-- What a spelling typed in a request means: the registry's reading when several fields
-- share a spelling (Sigma `CommandLine` is process.command_line, not a PowerShell field).
CREATE TABLE field_spellings (
    spelling TEXT PRIMARY KEY COLLATE NOCASE,
    field    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE fields (
    field  TEXT PRIMARY KEY,
    family TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX fields_nocase ON fields(field COLLATE NOCASE);
CREATE INDEX fields_family ON fields(family);


-- top_indicators' answer for the default request (all sources, no deprecated rules,
-- sub-techniques rolled up), the first PRECOMPUTED_LIMIT rows of each list, as JSON.
CREATE TABLE technique_aggregates (
    technique  TEXT PRIMARY KEY,
    fields     TEXT NOT NULL,
    indicators TEXT NOT NULL,
    exclusions TEXT NOT NULL
) WITHOUT ROWID;

-- What ATT&CK's analytics say to collect per technique (technique <- detection strategy
-- -> analytic -> log source). A log source that names Windows event ids is one row per
-- event (provider, event_id); any other keeps provider NULL: a named data source.
CREATE TABLE attack_telemetry (
    technique      TEXT NOT NULL,
    strategy       TEXT NOT NULL,                  -- DET0224
    analytic       TEXT NOT NULL,                  -- AN0628
    platforms      TEXT NOT NULL,                  -- JSON list, the analytic's
    data_component TEXT NOT NULL,                  -- e.g. Process Creation
    log_source     TEXT NOT NULL,                  -- e.g. WinEventLog:Sysmon
    channel        TEXT,                           -- e.g. EventCode=1
    provider       TEXT,
    event_id       INTEGER
);
CREATE INDEX attack_telemetry_technique ON attack_telemetry(technique);
CREATE INDEX attack_telemetry_event ON attack_telemetry(provider, event_id);

-- Full-text index (index/search/fts5.py): one row per rule, rowid = rules.rowid, columns as
-- index/search/document.py FIELDS. It keeps the indexed text: snippets are cut from it.
CREATE VIRTUAL TABLE rule_text USING fts5(
    title, tags, description, field_names, field_values, query,
    tokenize = "unicode61 remove_diacritics 0"
);
-- Its words and how many rules hold each, for suggestions of near words (a b-tree: prefix
-- look-ups on fts5vocab walk every word's postings).
CREATE TABLE rule_text_words (
    word  TEXT PRIMARY KEY,
    rules INTEGER NOT NULL
) WITHOUT ROWID;

-- Every file of every source as the build saw it, so a rebuild re-reads only what changed
-- (index/incremental.py). A rule file has `first_rule` (its rules' rowids start there) and
-- what reading it gave; any other file was skipped.
CREATE TABLE files (
    source     TEXT NOT NULL,
    path       TEXT NOT NULL,                      -- relative to the source root
    mode       INTEGER NOT NULL,                   -- st_mode: a FIFO is not a file
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    sha256     TEXT NOT NULL,                      -- '' when not hashed (not a regular file,
                                                   -- or over the readers' size limit)
    first_rule INTEGER,                            -- NULL: not a rule file
    rules      INTEGER NOT NULL,
    read_ids   TEXT,                               -- JSON: native ids as read, in file order
    rejections TEXT,                               -- JSON list of Rejection
    PRIMARY KEY (source, path)
) WITHOUT ROWID;

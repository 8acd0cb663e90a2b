//! The schema of the embedded store, as migrations applied in order.

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. A published
/// migration is never edited: changes come as new entries.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    expires_at TEXT
);
CREATE INDEX tokens_account ON tokens (account_id);
CREATE TABLE origins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES accounts(id),
    default_visibility TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE members (
    origin_id INTEGER NOT NULL REFERENCES origins(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    role TEXT NOT NULL,
    PRIMARY KEY (origin_id, account_id)
);
CREATE INDEX members_account ON members (account_id);
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin_id INTEGER NOT NULL REFERENCES origins(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    invited_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (origin_id, account_id)
);
CREATE TABLE public_keys (
    origin_id INTEGER NOT NULL REFERENCES origins(id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (origin_id, revision)
);
CREATE TABLE secret_keys (
    origin_id INTEGER NOT NULL REFERENCES origins(id) ON DELETE CASCADE,
    revision TEXT NOT NULL,
    encrypted BLOB NOT NULL,
    PRIMARY KEY (origin_id, revision)
);
CREATE TABLE packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    release TEXT NOT NULL,
    target TEXT NOT NULL,
    version_key BLOB NOT NULL,
    checksum TEXT NOT NULL,
    size INTEGER NOT NULL,
    visibility TEXT NOT NULL,
    manifest TEXT NOT NULL,
    config TEXT NOT NULL,
    deps TEXT NOT NULL,
    tdeps TEXT NOT NULL,
    build_deps TEXT NOT NULL,
    build_tdeps TEXT NOT NULL,
    exposes TEXT NOT NULL,
    is_a_service INTEGER NOT NULL,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (origin, name, version, release, target)
);
CREATE INDEX packages_latest ON packages (origin, name, target, version_key, release, version);
CREATE TABLE package_tdeps (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    dep_origin TEXT NOT NULL,
    dep_name TEXT NOT NULL,
    dep_ident TEXT NOT NULL
);
CREATE INDEX package_tdeps_name ON package_tdeps (dep_origin, dep_name);
CREATE INDEX package_tdeps_ident ON package_tdeps (dep_ident);
CREATE INDEX package_tdeps_package ON package_tdeps (package_id);
CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin_id INTEGER NOT NULL REFERENCES origins(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (origin_id, name)
);
CREATE TABLE channel_packages (
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    promoted_at TEXT NOT NULL,
    PRIMARY KEY (channel_id, package_id)
);
CREATE INDEX channel_packages_package ON channel_packages (package_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    account TEXT NOT NULL,
    action TEXT NOT NULL,
    origin TEXT NOT NULL,
    channel TEXT NOT NULL,
    package_id INTEGER NOT NULL,
    ident TEXT NOT NULL,
    target TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    email TEXT,
    created_at TEXT NOT NULL,
    last_sign_in_at TEXT,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX identities_account ON identities (account_id);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE TABLE login_flows (
    state_hash BLOB PRIMARY KEY,
    provider TEXT NOT NULL,
    browser_hash BLOB NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX login_flows_age ON login_flows (created_at);
"#,
    // What reverse dependencies read of each dependent release, so that they read this index
    // and not the releases' rows (MANIFEST and all) for every one of them.
    r#"
CREATE INDEX packages_dependents ON packages (id, target, visibility, origin, name);
"#,
    // A name's releases in the order its listing shows them (newest first, then by target),
    // so the first page is read in order rather than every release sorted.
    r#"
CREATE INDEX packages_newest ON packages
    (origin, name, version_key DESC, release DESC, version DESC, target);
"#,
    // Each dependency row names its dependent's origin, name and target, so that reverse
    // dependencies are the distinct names of one index range instead of a package lookup for
    // every dependent release.
    r#"
ALTER TABLE package_tdeps ADD COLUMN pkg_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE package_tdeps ADD COLUMN pkg_name TEXT NOT NULL DEFAULT '';
ALTER TABLE package_tdeps ADD COLUMN pkg_target TEXT NOT NULL DEFAULT '';
UPDATE package_tdeps SET (pkg_origin, pkg_name, pkg_target) =
    (SELECT p.origin, p.name, p.target FROM packages p WHERE p.id = package_tdeps.package_id);
CREATE INDEX package_tdeps_dependents
    ON package_tdeps (dep_origin, dep_name, pkg_target, pkg_origin, pkg_name);
"#,
    // A package's binds (BINDS and BINDS_OPTIONAL), for its page; packages stored before
    // have none recorded.
    r#"
ALTER TABLE packages ADD COLUMN binds TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN binds_optional TEXT NOT NULL DEFAULT '';
"#,
    // The last air-gap bundle imported from each transfer key, shared by every process of
    // the depot (it was a file in the data directory).
    r#"
CREATE TABLE bundle_imports (
    signer TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    completed INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
);
"#,
    // The channel manifests mirrors last read upstream, for their conditional requests.
    r#"
CREATE TABLE mirrored_manifests (
    upstream TEXT NOT NULL,
    origin TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    etag TEXT NOT NULL,
    packages TEXT NOT NULL,
    PRIMARY KEY (upstream, origin, channel, target)
);
"#,
    // The TUF repository: each release's SHA-256 and signing key (what its index entries
    // say), the outbox of changes to publish, the metadata versions, the target documents
    // (every version published, and what the bins list now) and the online key.
    r#"
ALTER TABLE packages ADD COLUMN sha256 TEXT;
ALTER TABLE packages ADD COLUMN signer TEXT;
CREATE INDEX packages_missing_tuf_facts ON packages (id) WHERE sha256 IS NULL OR signer IS NULL;
CREATE TABLE tuf_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE tuf_metadata (
    role TEXT NOT NULL,
    version INTEGER NOT NULL,
    body BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (role, version)
);
CREATE TABLE tuf_targets (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    blake2b TEXT NOT NULL,
    length INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX tuf_targets_blake2b ON tuf_targets (blake2b);
CREATE INDEX tuf_targets_age ON tuf_targets (created_at);
CREATE TABLE tuf_current (
    path TEXT PRIMARY KEY,
    bin TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    blake2b TEXT NOT NULL,
    length INTEGER NOT NULL
);
CREATE INDEX tuf_current_bin ON tuf_current (bin, path);
CREATE INDEX tuf_current_sha256 ON tuf_current (sha256);
CREATE TABLE tuf_keys (
    name TEXT PRIMARY KEY,
    public TEXT NOT NULL,
    secret_encrypted BLOB NOT NULL
);
"#,
    // Each listed channel index with its `origin/name`, so that a publish finds one package's
    // indexes in every channel from an index rather than reading every path of its origin.
    r#"
ALTER TABLE tuf_current ADD COLUMN package TEXT;
UPDATE tuf_current SET package = (
    SELECT substr(r1, 1, instr(r1, '/') - 1) || '/' || substr(r3, 1, instr(r3, '/') - 1)
    FROM (SELECT r1, substr(r2, instr(r2, '/') + 1) AS r3
        FROM (SELECT r1, substr(r1, instr(r1, '/') + 1) AS r2
            FROM (SELECT substr(tuf_current.path, 10) AS r1))))
WHERE path LIKE 'channels/%';
CREATE INDEX tuf_current_package ON tuf_current (package, path) WHERE package IS NOT NULL;
"#,
    // The audit log records any action (docs/operations.md, "The audit log"): the client's
    // address and a short detail, and origin, channel, package and target only where the action
    // has them. A column cannot become nullable in place, so the table is rebuilt with every
    // row and id; a delete's empty channel becomes NULL.
    r#"
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    account TEXT NOT NULL,
    action TEXT NOT NULL,
    origin TEXT,
    channel TEXT,
    package_id INTEGER,
    ident TEXT,
    target TEXT,
    address TEXT,
    detail TEXT
);
INSERT INTO audit_log (id, at, account, action, origin, channel, package_id, ident, target)
SELECT id, at, account, action, origin, NULLIF(channel, ''), package_id, ident, target FROM audit ORDER BY id;
DROP TABLE audit;
ALTER TABLE audit_log RENAME TO audit;
CREATE INDEX audit_origin ON audit (origin, id);
"#,
];

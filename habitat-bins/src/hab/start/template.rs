//! The service directory, and the Handlebars rendering of a package's `hooks/*` and
//! `config/*` into it (docs/commands.md, "`hab start`", step 2).
//!
//! As Habitat's supervisor does, templates are rendered **without HTML escaping** (`{{cfg.x}}`
//! is the value as it is: these are shell scripts and configuration files, not HTML) and
//! **not strictly**: a value that is missing renders as nothing, so `{{cfg.optional}}` works
//! whether the user set it or not. Templates see `pkg` (the package and its service
//! directories), `cfg` (default.toml with user.toml over it), and the helpers Habitat offers
//! that do not need a ring: `toToml`, `toJson`, `toUppercase`, `toLowercase`, `strReplace`,
//! `strJoin`, `strConcat`, `pkgPathFor`, besides Handlebars' own (`if`, `each`, `with`,
//! `lookup`, `eq`, …).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use habitat_core::{FsRoot, FullyQualifiedIdent, PackageIdent};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson, TemplateError,
};
use serde_json::{Map, Value, json};

use super::package::ServicePackage;

/// The directories of a service under `hab/svc/<name>/` (docs/formats.md, "The install layout").
const SERVICE_SUBDIRS: &[&str] = &["config", "data", "files", "hooks", "logs", "var", "static"];

/// Mode of rendered hooks: they are run.
const HOOK_MODE: u32 = 0o755;
/// Mode of rendered configuration files: they may hold secrets.
const CONFIG_MODE: u32 = 0o640;

/// A service's directory, `$FS_ROOT/hab/svc/<name>`.
#[derive(Clone, Debug)]
pub(super) struct ServiceDir {
    path: PathBuf,
}

impl ServiceDir {
    /// The directory of the service `name` under `root`.
    pub fn new(root: &FsRoot, name: &str) -> Self {
        Self {
            path: root.path().join("hab/svc").join(name),
        }
    }

    /// `hab/svc/<name>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One of `config`, `data`, `files`, `hooks`, `logs`, `var`, `static`.
    pub fn sub(&self, which: &str) -> PathBuf {
        self.path.join(which)
    }

    /// `hab/svc/<name>/PID`: the `run` process's id while it runs.
    pub fn pid_file(&self) -> PathBuf {
        self.path.join("PID")
    }

    /// Creates the directory and its subdirectories.
    pub fn create(&self) -> Result<()> {
        for sub in SERVICE_SUBDIRS {
            let dir = self.sub(sub);
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        Ok(())
    }
}

/// Which directory a template comes from and goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hook,
    Config,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Self::Hook => "hooks",
            Self::Config => "config",
        }
    }

    fn mode(self) -> u32 {
        match self {
            Self::Hook => HOOK_MODE,
            Self::Config => CONFIG_MODE,
        }
    }
}

/// One rendered template.
#[derive(Debug)]
struct RenderedFile {
    kind: Kind,
    /// Relative to `hooks/` or `config/`.
    relative: PathBuf,
    text: String,
}

/// A package's hooks and configuration files, rendered in memory: nothing is written until
/// [`Rendered::write`], so a release whose templates do not render never disturbs the
/// running service.
#[derive(Debug)]
pub(super) struct Rendered {
    files: Vec<RenderedFile>,
}

impl Rendered {
    /// Is there a hook of this name (`init`, `run`, …)?
    pub fn has_hook(&self, name: &str) -> bool {
        self.files
            .iter()
            .any(|f| f.kind == Kind::Hook && f.relative == Path::new(name))
    }

    /// Replaces the service's `hooks/` and `config/` with the rendered files (hooks mode
    /// 0755, configuration 0640). Whatever else was in those two directories is removed: they
    /// belong to the supervisor.
    pub fn write(&self, service: &ServiceDir) -> Result<()> {
        for kind in [Kind::Hook, Kind::Config] {
            let dir = service.sub(kind.dir());
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot empty `{}`", dir.display()));
                }
            }
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
        }
        for file in &self.files {
            let path = service.sub(file.kind.dir()).join(&file.relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create `{}`", parent.display()))?;
            }
            fs::write(&path, &file.text)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(file.kind.mode()))
                .with_context(|| format!("cannot set the mode of `{}`", path.display()))?;
        }
        Ok(())
    }
}

/// Renders the package's `hooks/*` and `config/*` (recursively) with `pkg` and `cfg`.
///
/// An error names the template's file in the package and, when Handlebars knows it, the line
/// and column.
pub(super) fn render(
    package: &ServicePackage,
    service: &ServiceDir,
    config: &toml::Table,
) -> Result<Rendered> {
    let mut registry = Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry.set_strict_mode(false);
    register_helpers(&mut registry, package);
    let data = context(package, service, config);
    let mut files = Vec::new();
    for kind in [Kind::Hook, Kind::Config] {
        let dir = package.dir.join(kind.dir());
        for relative in list_files(&dir)? {
            let source = dir.join(&relative);
            let bytes =
                fs::read(&source).with_context(|| format!("cannot read `{}`", source.display()))?;
            let template = String::from_utf8(bytes)
                .map_err(|_| anyhow!("the template `{}` is not UTF-8 text", source.display()))?;
            let name = Path::new(kind.dir()).join(&relative);
            let name = name.to_string_lossy();
            registry
                .register_template_string(&name, template)
                .map_err(|e| template_error(&source, &e))?;
            let text = registry
                .render(&name, &data)
                .map_err(|e| render_error(&source, &e))?;
            files.push(RenderedFile {
                kind,
                relative,
                text,
            });
        }
    }
    Ok(Rendered { files })
}

/// The data templates see: `pkg` and `cfg`.
fn context(package: &ServicePackage, service: &ServiceDir, config: &toml::Table) -> Value {
    let path = |p: &Path| Value::String(p.to_string_lossy().into_owned());
    let ident = |i: &FullyQualifiedIdent, dir: &Path| {
        json!({
            "ident": i.to_string(),
            "origin": i.origin().as_str(),
            "name": i.name().as_str(),
            "version": i.version(),
            "release": i.release(),
            "path": path(dir),
        })
    };
    let mut pkg = ident(&package.ident, &package.dir);
    if let Value::Object(pkg) = &mut pkg {
        for (key, sub) in [
            ("svc_config_path", "config"),
            ("svc_data_path", "data"),
            ("svc_files_path", "files"),
            ("svc_var_path", "var"),
            ("svc_static_path", "static"),
        ] {
            pkg.insert(key.into(), path(&service.sub(sub)));
        }
        pkg.insert("svc_path".into(), path(service.path()));
        pkg.insert("svc_pid_file".into(), path(&service.pid_file()));
        pkg.insert("svc_user".into(), package.svc_user.clone().into());
        pkg.insert("svc_group".into(), package.svc_group.clone().into());
        pkg.insert(
            "deps".into(),
            package
                .tdeps
                .iter()
                .map(|(dep, dir)| ident(dep, dir))
                .collect(),
        );
    }
    json!({ "pkg": pkg, "cfg": table_to_json(config) })
}

fn table_to_json(table: &toml::Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    )
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => table_to_json(table),
    }
}

/// JSON back to TOML for `toToml`; nulls (missing values) are left out, as TOML has none.
fn json_to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Value::Object(map) => toml::Value::Table(json_object_to_toml(map)),
    })
}

fn json_object_to_toml(map: &Map<String, Value>) -> toml::Table {
    map.iter()
        .filter_map(|(k, v)| Some((k.clone(), json_to_toml(v)?)))
        .collect()
}

/// A value as text: strings as they are, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

type HelperFn = dyn Fn(&[&Value]) -> Result<Value, String> + Send + Sync;

/// A helper computing a value from its parameters, usable alone (`{{toJson cfg}}`) and as a
/// subexpression (`{{toUppercase (strConcat a b)}}`).
struct Function {
    name: &'static str,
    function: Box<HelperFn>,
}

impl HelperDef for Function {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let params: Vec<&Value> = helper.params().iter().map(|p| p.value()).collect();
        (self.function)(&params)
            .map(ScopedJson::Derived)
            .map_err(|reason| RenderErrorReason::Other(format!("{}: {reason}", self.name)).into())
    }
}

fn register_helpers(registry: &mut Handlebars<'_>, package: &ServicePackage) {
    let mut add = |name: &'static str, function: Box<HelperFn>| {
        registry.register_helper(name, Box::new(Function { name, function }));
    };
    add(
        "toJson",
        Box::new(|p| {
            let value = p.first().copied().unwrap_or(&Value::Null);
            serde_json::to_string_pretty(value)
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    add(
        "toToml",
        Box::new(|p| match p.first().copied().and_then(json_to_toml) {
            None => Ok(Value::Null),
            Some(toml::Value::Table(table)) => toml::to_string(&table)
                .map(Value::String)
                .map_err(|e| e.to_string()),
            Some(other) => Ok(Value::String(other.to_string())),
        }),
    );
    add(
        "toUppercase",
        Box::new(|p| {
            Ok(text(p.first().copied().unwrap_or(&Value::Null))
                .to_uppercase()
                .into())
        }),
    );
    add(
        "toLowercase",
        Box::new(|p| {
            Ok(text(p.first().copied().unwrap_or(&Value::Null))
                .to_lowercase()
                .into())
        }),
    );
    add(
        "strReplace",
        Box::new(|p| match p {
            [value, from, to] => Ok(text(value).replace(&text(from), &text(to)).into()),
            _ => Err("takes a value, the text to replace and its replacement".into()),
        }),
    );
    add(
        "strJoin",
        Box::new(|p| match p {
            [Value::Array(items), separator] => Ok(items
                .iter()
                .map(text)
                .collect::<Vec<_>>()
                .join(&text(separator))
                .into()),
            [Value::Null, _] => Ok(Value::Null),
            _ => Err("takes a list and a separator".into()),
        }),
    );
    add(
        "strConcat",
        Box::new(|p| Ok(p.iter().map(|v| text(v)).collect::<String>().into())),
    );
    let deps = package.tdeps.clone();
    add(
        "pkgPathFor",
        Box::new(move |p| {
            let wanted: PackageIdent = match p {
                [Value::String(s)] => s.parse().map_err(|e| format!("`{s}`: {e}"))?,
                _ => return Err("takes one package identifier, as a string".into()),
            };
            deps.iter()
                .find(|(dep, _)| wanted.satisfied_by(dep))
                .map(|(_, dir)| Value::String(dir.to_string_lossy().into_owned()))
                .ok_or_else(|| format!("`{wanted}` is not a dependency of this package"))
        }),
    );
}

/// The files under `dir`, recursively, relative to it and sorted; none when `dir` is missing.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        let entries = match fs::read_dir(&here) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound && relative.as_os_str().is_empty() => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", here.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read `{}`", here.display()))?;
            let path = entry.path();
            let name = relative.join(entry.file_name());
            // Follows links: the package may link a template to another of its files.
            let metadata =
                fs::metadata(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
            if metadata.is_dir() {
                pending.push(name);
            } else {
                found.push(name);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(", line {line}, column {column}"),
        (Some(line), None) => format!(", line {line}"),
        _ => String::new(),
    }
}

fn template_error(source: &Path, error: &TemplateError) -> anyhow::Error {
    let (line, column) = error.pos().unzip();
    // Handlebars' syntax errors quote the template over several lines: the first says it.
    let reason = error.reason().to_string();
    let reason = reason.lines().next().unwrap_or_default().trim().to_owned();
    anyhow!(
        "the template `{}` does not parse{}: {reason}",
        source.display(),
        position(line, column)
    )
}

fn render_error(source: &Path, error: &RenderError) -> anyhow::Error {
    let reason = match error.reason() {
        RenderErrorReason::TemplateError(inner) => inner.reason().to_string(),
        other => other.to_string(),
    };
    anyhow!(
        "the template `{}` does not render{}: {reason}",
        source.display(),
        position(error.line_no, error.column_no)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &Path) -> ServicePackage {
        let ident: FullyQualifiedIdent = "demo/app/1.0.0/20250101000000".parse().unwrap();
        let dep: FullyQualifiedIdent = "demo/lib/2.0.0/20250101000000".parse().unwrap();
        ServicePackage {
            ident,
            dir: dir.to_owned(),
            svc_user: "hab".into(),
            svc_group: "hab".into(),
            tdeps: vec![(
                dep,
                PathBuf::from("/r/hab/pkgs/demo/lib/2.0.0/20250101000000"),
            )],
            runtime_path: Vec::new(),
            environment: Vec::new(),
            default_config: toml::Table::new(),
        }
    }

    /// Renders `template` as `hooks/run` of a package with `config` as cfg.
    #[track_caller]
    fn rendered(template: &str, config: &str) -> Result<String> {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("hooks")).unwrap();
        fs::write(dir.path().join("hooks/run"), template).unwrap();
        let service = ServiceDir::new(&FsRoot::new("/r"), "app");
        let out = render(&package(dir.path()), &service, &config.parse().unwrap())?;
        Ok(out.files.into_iter().next().unwrap().text)
    }

    #[track_caller]
    fn renders(template: &str, config: &str, expected: &str) {
        assert_eq!(rendered(template, config).unwrap(), expected);
    }

    #[test]
    fn values_are_not_escaped_and_missing_ones_are_empty() {
        renders("{{cfg.a}}", "a = '<b> & \"c\"'", "<b> & \"c\"");
        renders("[{{cfg.missing}}][{{cfg.x.y.z}}]", "", "[][]");
        renders("{{#if cfg.on}}yes{{else}}no{{/if}}", "on = true", "yes");
        renders("{{#each cfg.l}}{{this}},{{/each}}", "l = [1, 2]", "1,2,");
        renders("{{cfg.n}} {{cfg.f}}", "n = 3\nf = 1.5", "3 1.5");
    }

    #[test]
    fn pkg_names_the_package_and_the_service_directories() {
        renders(
            "{{pkg.ident}} {{pkg.name}} {{pkg.release}} {{pkg.svc_user}}",
            "",
            "demo/app/1.0.0/20250101000000 app 20250101000000 hab",
        );
        renders(
            "{{pkg.svc_path}} {{pkg.svc_config_path}} {{pkg.svc_var_path}}",
            "",
            "/r/hab/svc/app /r/hab/svc/app/config /r/hab/svc/app/var",
        );
        renders(
            "{{pkgPathFor \"demo/lib\"}} {{pkg.deps.0.name}}",
            "",
            "/r/hab/pkgs/demo/lib/2.0.0/20250101000000 lib",
        );
    }

    #[test]
    fn helpers_format_values() {
        renders(
            "{{toToml cfg.server}}",
            "[server]\nport = 80\nhost = 'h'\n[server.tls]\non = false",
            // Keys come sorted: TOML tables are not ordered.
            "host = \"h\"\nport = 80\n\n[tls]\non = false\n",
        );
        renders("{{toToml cfg.missing}}", "", "");
        renders("{{toJson cfg.l}}", "l = [1, 'a']", "[\n  1,\n  \"a\"\n]");
        renders(
            "{{toUppercase cfg.a}} {{toLowercase 'AbC'}}",
            "a = 'x<y'",
            "X<Y abc",
        );
        renders("{{strReplace cfg.a 'b' 'c'}}", "a = 'abba'", "acca");
        renders("{{strJoin cfg.l ':'}}", "l = ['a', 'b']", "a:b");
        renders(
            "{{toUppercase (strConcat cfg.a '-' cfg.b)}}",
            "a = 'x'\nb = 'y'",
            "X-Y",
        );
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let err = rendered("ok\n{{#if cfg.a}}\nno end\n", "").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("hooks/run` does not parse"), "{text}");
        let err = rendered("line\n\n  {{pkgPathFor 'demo/nope'}}", "").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("hooks/run` does not render, line 3"),
            "{text}"
        );
        assert!(text.contains("pkgPathFor"), "{text}");
    }

    #[test]
    fn rendering_replaces_hooks_and_config_with_modes() {
        let pkg = tempfile::tempdir().unwrap();
        fs::create_dir_all(pkg.path().join("hooks")).unwrap();
        fs::create_dir_all(pkg.path().join("config/sub")).unwrap();
        fs::write(pkg.path().join("hooks/run"), "#!/bin/sh\n").unwrap();
        fs::write(pkg.path().join("config/sub/a.conf"), "x={{cfg.x}}").unwrap();
        let root = tempfile::tempdir().unwrap();
        let service = ServiceDir::new(&FsRoot::new(root.path()), "app");
        service.create().unwrap();
        fs::write(service.sub("hooks").join("stale"), "").unwrap();
        let out = render(&package(pkg.path()), &service, &"x = 1".parse().unwrap()).unwrap();
        assert!(out.has_hook("run") && !out.has_hook("init"));
        out.write(&service).unwrap();
        assert!(!service.sub("hooks").join("stale").exists());
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(service.sub("hooks").join("run")), 0o755);
        let conf = service.sub("config").join("sub/a.conf");
        assert_eq!(mode(conf.clone()), 0o640);
        assert_eq!(fs::read_to_string(conf).unwrap(), "x=1");
    }
}

//! Command-line overrides of a configuration file, as Hydra-style tools take them:
//! `--set section.key=value` (repeatable), applied to the TOML before it is read, so that an
//! override is checked exactly like the same key in the file.
//!
//! The value is TOML (`training.batch_size=4`, `env.type="hypergrid"`, `policy.hidden=[64]`);
//! a value that is not TOML is taken as a string (`evaluation.log_path=runs/a.jsonl`). Keys are
//! dotted paths; missing tables on the way are created.

/// Why an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// Not `key=value`.
    #[error("--set {0:?}: expected section.key=value")]
    NoValue(String),
    /// An empty key or an empty part of a dotted key.
    #[error("--set {0:?}: the key has an empty part")]
    EmptyKey(String),
    /// A part of the key names a value that is not a table.
    #[error("--set {assignment:?}: {prefix} is not a table")]
    NotATable { assignment: String, prefix: String },
}

/// Applies one `key=value` assignment to `table`.
pub fn apply(table: &mut toml::Table, assignment: &str) -> Result<(), OverrideError> {
    let (key, text) = assignment.split_once('=').ok_or_else(|| OverrideError::NoValue(assignment.into()))?;
    let parts: Vec<&str> = key.trim().split('.').map(str::trim).collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(OverrideError::EmptyKey(assignment.into()));
    }
    let value = parse_value(text.trim());
    let (last, path) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for (depth, part) in path.iter().enumerate() {
        let entry = current.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(inner) => inner,
            _ => {
                return Err(OverrideError::NotATable {
                    assignment: assignment.into(),
                    prefix: parts[..=depth].join("."),
                });
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// The value as TOML, or as a string if it is not TOML.
fn parse_value(text: &str) -> toml::Value {
    let document = format!("value = {text}");
    match document.parse::<toml::Table>() {
        Ok(mut table) => table.remove("value").expect("the key just written"),
        Err(_) => toml::Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(text: &str, assignments: &[&str]) -> Result<toml::Table, OverrideError> {
        let mut table: toml::Table = text.parse().unwrap();
        for assignment in assignments {
            apply(&mut table, assignment)?;
        }
        Ok(table)
    }

    #[test]
    fn values_are_toml_or_else_strings() {
        let table = applied(
            "[training]\nbatch_size = 16\n",
            &[
                "training.batch_size=4",
                "env.type=\"hypergrid\"",
                "evaluation.log_path=runs/a.jsonl",
                "seed = 7",
            ],
        )
        .unwrap();
        assert_eq!(table["training"]["batch_size"].as_integer(), Some(4));
        assert_eq!(table["env"]["type"].as_str(), Some("hypergrid"));
        assert_eq!(table["evaluation"]["log_path"].as_str(), Some("runs/a.jsonl"));
        assert_eq!(table["seed"].as_integer(), Some(7));
        let table = applied("", &["conditioning.reward_exponents=[4.0, 16.0]", "a.b.c=true"]).unwrap();
        assert_eq!(table["conditioning"]["reward_exponents"].as_array().unwrap().len(), 2);
        assert_eq!(table["a"]["b"]["c"].as_bool(), Some(true));
    }

    #[test]
    fn malformed_overrides_are_named() {
        assert_eq!(
            applied("", &["training.batch_size"]),
            Err(OverrideError::NoValue("training.batch_size".into()))
        );
        assert_eq!(applied("", &["training..x=1"]), Err(OverrideError::EmptyKey("training..x=1".into())));
        let error = applied("seed = 1\n", &["seed.x=1"]).unwrap_err();
        assert_eq!(error, OverrideError::NotATable { assignment: "seed.x=1".into(), prefix: "seed".into() });
    }
}

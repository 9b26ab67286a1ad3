//! The `[env]` section: which task (`type`) and that task's own keys.
//!
//! The section stays TOML until the task that `type` names reads it into its own configuration
//! type, with its own checks (`gfn_common::task::registry`): the core knows no task, so a task
//! can live in a crate of its own.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DEFAULT_CONFIG_TOML;

/// The `[env]` section: the task's name and its keys, not yet read by the task.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvSection {
    task: String,
    settings: toml::Table,
}

impl EnvSection {
    /// The section of task `task` with `settings` (its keys besides `type`).
    pub fn new(task: impl Into<String>, settings: toml::Table) -> Self {
        Self { task: task.into(), settings }
    }

    /// The section of task `task` holding `config`, the task's own configuration.
    pub fn of<C: Serialize>(task: &str, config: &C) -> Result<Self, toml::ser::Error> {
        Ok(Self::new(task, toml::Table::try_from(config)?))
    }

    /// The name `type` gives.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The task's keys as written (without `type`).
    pub fn settings(&self) -> &toml::Table {
        &self.settings
    }

    /// The task's keys read into its configuration type `C` (its defaults fill what is left
    /// out; unknown keys are refused when `C` denies them).
    pub fn parse<C: DeserializeOwned>(&self) -> Result<C, toml::de::Error> {
        toml::Value::Table(self.settings.clone()).try_into()
    }
}

impl Default for EnvSection {
    /// The section of the embedded default configuration (`configs/hypergrid.toml`): a
    /// configuration without `[env]` trains that task.
    fn default() -> Self {
        let mut table: toml::Table = DEFAULT_CONFIG_TOML.parse().expect("the embedded config is TOML");
        let env = table.remove("env").expect("the embedded config has [env]");
        let toml::Value::Table(settings) = env else { panic!("[env] is a table") };
        Self::from_table(settings).expect("the embedded [env] names its task")
    }
}

impl EnvSection {
    fn from_table(mut settings: toml::Table) -> Result<Self, String> {
        match settings.remove("type") {
            Some(toml::Value::String(task)) => Ok(Self { task, settings }),
            Some(other) => Err(format!("env.type must be a task name (a string), got {other}")),
            None => Err("missing field `type` in [env]: the task to train, e.g. type = \"hypergrid\"".into()),
        }
    }
}

impl Serialize for EnvSection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::new();
        table.insert("type".into(), toml::Value::String(self.task.clone()));
        table.extend(self.settings.iter().map(|(k, v)| (k.clone(), v.clone())));
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EnvSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        Self::from_table(table).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Settings {
        size: u32,
        label: String,
    }

    #[test]
    fn the_section_keeps_its_keys_for_the_task_to_read() {
        let section: EnvSection = toml::from_str("type = \"mine\"\nsize = 3\n").unwrap();
        assert_eq!(section.task(), "mine");
        assert_eq!(section.parse::<Settings>().unwrap(), Settings { size: 3, label: String::new() });
        // written back with its type
        let text = toml::to_string(&section).unwrap();
        assert!(text.contains("type = \"mine\"") && text.contains("size = 3"), "{text}");
        let again: EnvSection = toml::from_str(&text).unwrap();
        assert_eq!(again, section);
        // the task's own type refuses what it does not know
        let typo: EnvSection = toml::from_str("type = \"mine\"\nsise = 3\n").unwrap();
        assert!(typo.parse::<Settings>().unwrap_err().to_string().contains("sise"));
        // `of` writes a task's configuration
        let of = EnvSection::of("mine", &Settings { size: 7, label: "x".into() }).unwrap();
        assert_eq!(of.parse::<Settings>().unwrap().size, 7);
    }

    #[test]
    fn a_section_without_a_task_name_is_refused() {
        let error = toml::from_str::<EnvSection>("size = 3\n").unwrap_err().to_string();
        assert!(error.contains("type"), "{error}");
        let error = toml::from_str::<EnvSection>("type = 3\n").unwrap_err().to_string();
        assert!(error.contains("env.type"), "{error}");
    }
}

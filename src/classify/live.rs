//! The rule set in force, replaceable while the daemon runs (on SIGHUP). A new set takes
//! effect only if every file in it checks out; otherwise the errors are returned (and logged
//! by the caller) and the previous set stays in force, so a typo in a rule file never leaves
//! the landlord with no classifier.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::engine::{Engine, Input, Uncertain, Verdict};
use super::rules::RulesError;

/// Shared handle to the rules in force.
#[derive(Clone, Debug)]
pub struct LiveRules {
    dir: PathBuf,
    uncertain: Uncertain,
    current: Arc<RwLock<Arc<Engine>>>,
}

impl LiveRules {
    /// Loads the rules at start; an error here stops start-up (there is no previous set).
    /// A folder that does not exist means the shipped rules.
    pub fn load(dir: &Path, uncertain: Uncertain) -> Result<LiveRules, RulesError> {
        let engine = load_engine(dir, uncertain)?;
        Ok(LiveRules {
            dir: dir.to_path_buf(),
            uncertain,
            current: Arc::new(RwLock::new(Arc::new(engine))),
        })
    }

    /// Loads the folder again. On success the new rules are in force and their count is
    /// returned; on failure nothing changes.
    pub fn reload(&self) -> Result<usize, RulesError> {
        let engine = load_engine(&self.dir, self.uncertain)?;
        let count = engine.rules().len();
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(engine);
        Ok(count)
    }

    /// The engine in force now.
    pub fn engine(&self) -> Arc<Engine> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Classifies with the rules in force.
    pub fn classify(&self, input: &Input<'_>) -> Verdict {
        self.engine().classify(input)
    }
}

fn load_engine(dir: &Path, uncertain: Uncertain) -> Result<Engine, RulesError> {
    if dir.exists() {
        Engine::load(dir, uncertain)
    } else {
        Ok(Engine::new(super::rules::load_default()?, uncertain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Context, MessageKind};
    use crate::core::model::Channel;

    fn fed_up() -> Input<'static> {
        Input {
            subject: "",
            body: "I am fed up",
            channel: Channel::Email,
            context: Context::None,
        }
    }

    #[test]
    fn a_broken_rule_file_on_reload_leaves_the_previous_rules_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("complaint.toml");
        std::fs::write(
            &file,
            "[[rule]]\nid = \"c\"\npatterns = ['fed up']\nkind = \"complaint\"\n",
        )
        .unwrap();
        let live = LiveRules::load(dir.path(), Uncertain::ComplaintForReview).unwrap();
        assert_eq!(live.classify(&fed_up()).kind, MessageKind::Complaint);

        // A landlord's edit breaks the file: the reload is refused with file and line...
        std::fs::write(
            &file,
            "[[rule]]\nid = \"c\"\npatterns = ['fed up(']\nkind = \"complaint\"\n",
        )
        .unwrap();
        let err = live.reload().unwrap_err();
        assert!(err.to_string().contains("complaint.toml:3"), "{err}");
        // ...and the rules in force are still the old ones.
        assert_eq!(live.classify(&fed_up()).kind, MessageKind::Complaint);

        // Fixed: the new rules take effect.
        std::fs::write(
            &file,
            "[[rule]]\nid = \"c\"\npatterns = ['nothing matches this']\nkind = \"complaint\"\n",
        )
        .unwrap();
        assert_eq!(live.reload().unwrap(), 1);
        assert_eq!(live.classify(&fed_up()).kind, MessageKind::ServiceRequest);
    }

    #[test]
    fn without_a_rules_folder_the_shipped_rules_are_used() {
        let live = LiveRules::load(
            Path::new("/nonexistent/rules"),
            Uncertain::ComplaintForReview,
        )
        .unwrap();
        let shipped = crate::classify::rules::load_default().expect("the shipped rules are valid");
        assert_eq!(live.engine().rules().len(), shipped.len());
    }
}

//! The rule set in force, replaceable while the daemon runs (on SIGHUP). A new set takes
//! effect only if every file in it checks out; otherwise the errors are returned (and logged
//! by the caller) and the previous set stays in force, so a typo in a rule file never leaves
//! the landlord with no classifier.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::engine::{DEFAULT_INFLUENCE, Engine, Input, Uncertain, Verdict};
use super::learned::{self, Correction, NaiveBayes};
use super::rules::RulesError;

/// Shared handle to the rules and learned component in force.
#[derive(Clone, Debug)]
pub struct LiveRules {
    dir: PathBuf,
    uncertain: Uncertain,
    influence: f32,
    model: Arc<RwLock<Arc<NaiveBayes>>>,
    current: Arc<RwLock<Arc<Engine>>>,
    /// Held while a reload or a retraining builds its engine, so that one cannot put back
    /// what the other has just replaced (a SIGHUP during a correction).
    updating: Arc<Mutex<()>>,
}

impl LiveRules {
    /// Loads the rules at start with the shipped learned component at its default influence;
    /// an error here stops start-up (there is no previous set). A folder that does not exist
    /// means the shipped rules.
    pub fn load(dir: &Path, uncertain: Uncertain) -> Result<LiveRules, RulesError> {
        LiveRules::load_with(dir, uncertain, DEFAULT_INFLUENCE)
    }

    /// As [`LiveRules::load`], with the learned component's influence (0 turns it off).
    pub fn load_with(
        dir: &Path,
        uncertain: Uncertain,
        influence: f32,
    ) -> Result<LiveRules, RulesError> {
        let model = learned::shipped();
        let engine = load_engine(dir, uncertain, &model, influence)?;
        Ok(LiveRules {
            dir: dir.to_path_buf(),
            uncertain,
            influence,
            model: Arc::new(RwLock::new(model)),
            current: Arc::new(RwLock::new(Arc::new(engine))),
            updating: Arc::new(Mutex::new(())),
        })
    }

    /// Loads the folder again. On success the new rules are in force and their count is
    /// returned; on failure nothing changes.
    pub fn reload(&self) -> Result<usize, RulesError> {
        let _updating = lock(&self.updating);
        let model = self.model();
        let engine = load_engine(&self.dir, self.uncertain, &model, self.influence)?;
        let count = engine.rules().len();
        *write(&self.current) = Arc::new(engine);
        Ok(count)
    }

    /// Retrains the learned component on the shipped corpus plus these staff corrections
    /// (all of them, not just new ones: retraining from scratch takes milliseconds and
    /// cannot count a correction twice). The rules in force are kept.
    pub fn learn(&self, corrections: &[Correction]) {
        let _updating = lock(&self.updating);
        let model = learned::with_corrections(corrections);
        let rules = self.engine().without_model();
        *write(&self.model) = model.clone();
        *write(&self.current) = Arc::new(with_model(rules, &model, self.influence));
    }

    /// The engine in force now.
    pub fn engine(&self) -> Arc<Engine> {
        read(&self.current)
    }

    /// The learned component in force now.
    pub fn model(&self) -> Arc<NaiveBayes> {
        read(&self.model)
    }

    /// Classifies with the rules in force.
    pub fn classify(&self, input: &Input<'_>) -> Verdict {
        self.engine().classify(input)
    }
}

/// The classifier a configuration names, built the first time something asks for it.
///
/// Building it compiles every rule and trains the learned component, which takes a noticeable
/// fraction of a second even in a release build. Most commands (`case show`, `due`,
/// `deadlines`) never classify anything, so the configuration carries this handle rather than
/// the classifier: the daemon and `check-config` build it at once (a broken rule set stops
/// them with file and line), intake builds it on its first message. Clones share one
/// classifier, so a SIGHUP reload or a retraining reaches every holder.
#[derive(Clone, Debug)]
pub struct Classifier {
    dir: PathBuf,
    uncertain: Uncertain,
    influence: f32,
    built: Arc<OnceLock<LiveRules>>,
}

impl Classifier {
    /// The classifier for the rules in `dir` (the shipped rules when it does not exist);
    /// nothing is read until [`Classifier::live`].
    pub fn new(dir: PathBuf, uncertain: Uncertain, influence: f32) -> Classifier {
        Classifier {
            dir,
            uncertain,
            influence,
            built: Arc::new(OnceLock::new()),
        }
    }

    /// The rules folder this classifier reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The classifier in force, built now if this is the first call. A broken rule set is
    /// an error every time it is asked for (nothing is kept), so fixing the files and asking
    /// again works without a restart.
    pub fn live(&self) -> Result<&LiveRules, RulesError> {
        if let Some(live) = self.built.get() {
            return Ok(live);
        }
        let live = LiveRules::load_with(&self.dir, self.uncertain, self.influence)?;
        // Two first callers at once may both build; one wins and both use the winner.
        Ok(self.built.get_or_init(|| live))
    }
}

/// A poisoned lock only means a panic elsewhere mid-swap; the value inside is a whole `Arc`
/// either way, so it is safe to keep using.
fn read<T: ?Sized>(lock: &RwLock<Arc<T>>) -> Arc<T> {
    lock.read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The rules in `dir` (the shipped ones when it does not exist) with the learned component.
pub fn load_engine(
    dir: &Path,
    uncertain: Uncertain,
    model: &Arc<NaiveBayes>,
    influence: f32,
) -> Result<Engine, RulesError> {
    let rules = if dir.exists() {
        super::rules::load_dir(dir)?
    } else {
        super::rules::load_default()?
    };
    Ok(with_model(Engine::new(rules, uncertain), model, influence))
}

/// The engine with the learned component, unless its influence is 0 (then it has none, and
/// verdicts show no learned view).
fn with_model(engine: Engine, model: &Arc<NaiveBayes>, influence: f32) -> Engine {
    if influence > 0.0 {
        engine.with_model(model.clone(), influence)
    } else {
        engine
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
        // Rules alone (no learned component), so only the rule file decides.
        let live = LiveRules::load_with(dir.path(), Uncertain::ComplaintForReview, 0.0).unwrap();
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
    fn staff_corrections_retrain_the_learned_component_and_keep_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c.toml"),
            "[[rule]]\nid = \"c\"\npatterns = ['nothing matches this']\nkind = \"compliment\"\n",
        )
        .unwrap();
        let live = LiveRules::load_with(dir.path(), Uncertain::ComplaintForReview, 3.0).unwrap();
        let input = Input {
            subject: "",
            body: "zorblax frobnicated the wibble",
            channel: Channel::Email,
            context: Context::None,
        };
        let before = live.classify(&input);
        assert_ne!(before.kind, MessageKind::Compliment);
        let correction = learned::Correction {
            kind: MessageKind::Compliment,
            context: Context::None,
            subject: String::new(),
            body: "zorblax frobnicated the wibble".into(),
        };
        live.learn(&[correction.clone(), correction]);
        let after = live.classify(&input);
        assert_eq!(after.kind, MessageKind::Compliment, "{after:?}");
        assert_eq!(after.learned.map(|l| l.kind), Some(MessageKind::Compliment));
        // The rules in force are the same ones.
        assert_eq!(live.engine().rules().len(), 1);
        assert_eq!(live.engine().rules()[0].id, "c");
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

//! The record files: measured answers, written once, compared on every later run.
//!
//! A measurement is only ground truth for the fake if it is written down and re-checked: under
//! `LIFECYCLE_SIM_RECORD=1` each case's observation is merged into
//! `recorded/<file>.json` (one entry per case name); otherwise each fresh observation is
//! compared with the committed entry. An entry has two parts: `stable`, compared exactly (answer
//! classes, event facts, booleans a fake must reproduce), and `noise`, informational only
//! (latencies, full event sequences whose interleaving depends on timing). A difference in
//! `stable` fails the test with both values.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One case's entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Entry {
    /// Compared run to run.
    pub stable: Value,
    /// Not compared: timings and timing-dependent detail.
    pub noise: Value,
}

/// A record file.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct RecordFile {
    /// What was measured (e.g. `kilo serve 7.7.9`).
    pub subject: String,
    /// How the file is used.
    pub note: String,
    /// Entries by case name.
    pub cases: BTreeMap<String, Entry>,
}

/// Whether `LIFECYCLE_SIM_RECORD=1`.
pub fn recording() -> bool {
    std::env::var("LIFECYCLE_SIM_RECORD").as_deref() == Ok("1")
}

/// `crates/kilo-contract/recorded/<name>.json`.
pub fn path_of(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("recorded")
        .join(format!("{name}.json"))
}

/// Tests of one binary run in parallel threads and may share a file: merges are serialized.
static FILES: Mutex<()> = Mutex::new(());

/// The observations of one test, for one record file.
pub struct Recorder {
    name: String,
    subject: String,
    committed: Option<RecordFile>,
    fresh: BTreeMap<String, Entry>,
    differences: Vec<String>,
}

impl Recorder {
    /// A recorder for `recorded/<name>.json`, whose subject is `subject`.
    pub fn new(name: &str, subject: &str) -> Recorder {
        let committed = std::fs::read_to_string(path_of(name))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        Recorder {
            name: name.to_string(),
            subject: subject.to_string(),
            committed,
            fresh: BTreeMap::new(),
            differences: Vec::new(),
        }
    }

    /// Notes one case's observation (and prints it); compares it now unless recording.
    pub fn case(&mut self, case: &str, stable: impl Serialize, noise: Value) {
        let entry = Entry {
            stable: serde_json::to_value(stable).expect("serializable"),
            noise,
        };
        println!(
            "[{}] {case}: {}  (noise: {})",
            self.name, entry.stable, entry.noise
        );
        if !recording() {
            match self.committed.as_ref().and_then(|f| f.cases.get(case)) {
                None => self.differences.push(format!(
                    "{case}: not in {} (record with LIFECYCLE_SIM_RECORD=1)",
                    path_of(&self.name).display()
                )),
                Some(old) if old.stable != entry.stable => self.differences.push(format!(
                    "{case}:\n  recorded: {}\n  measured: {}",
                    old.stable, entry.stable
                )),
                Some(_) => {}
            }
        }
        self.fresh.insert(case.to_string(), entry);
    }

    /// Writes the entries (recording) or fails listing every difference from the record.
    pub fn finish(self) {
        if recording() {
            let _guard = FILES.lock().unwrap_or_else(|p| p.into_inner());
            let path = path_of(&self.name);
            let mut file: RecordFile = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default();
            file.subject = self.subject.clone();
            file.note = "Measured by crates/kilo-contract (LIFECYCLE_SIM_RECORD=1). `stable` is \
                         compared on every run; `noise` (timings, timing-dependent detail) is not."
                .into();
            file.cases.extend(self.fresh);
            std::fs::create_dir_all(path.parent().expect("recorded/")).expect("recorded/");
            let text = serde_json::to_string_pretty(&file).expect("serializable") + "\n";
            std::fs::write(&path, text).expect("write record");
            println!("recorded {}", path.display());
            return;
        }
        assert!(
            self.differences.is_empty(),
            "{} differs from the committed record:\n{}",
            self.name,
            self.differences.join("\n")
        );
    }
}

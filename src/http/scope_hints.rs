//! The execution scope each pipeline had when its stats were last asked for. A stats request
//! reads the pipeline and the stats of the scope remembered for it in one statement; when the
//! pipeline still has that scope (nearly always: only a change of its trigger branches alters
//! it) the answer needs one round trip to the database instead of two. A stale hint is only a
//! wasted read: the stats are then read again with the pipeline's scope.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::ExecutionScope;

/// Most pipelines remembered; past it the hints start over (they are only a shortcut).
const MAX_HINTS: usize = 65_536;

#[derive(Default)]
pub struct ScopeHints {
    scopes: Mutex<HashMap<String, ExecutionScope>>,
}

impl ScopeHints {
    pub fn get(&self, pipeline_id: &str) -> Option<ExecutionScope> {
        self.scopes.lock().unwrap_or_else(|e| e.into_inner()).get(pipeline_id).cloned()
    }

    pub fn remember(&self, pipeline_id: &str, scope: &ExecutionScope) {
        let mut scopes = self.scopes.lock().unwrap_or_else(|e| e.into_inner());
        if scopes.len() >= MAX_HINTS && !scopes.contains_key(pipeline_id) {
            scopes.clear();
        }
        scopes.insert(pipeline_id.to_string(), scope.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(branch: &str) -> ExecutionScope {
        ExecutionScope {
            repository: "o/r".into(),
            workflow_path: ".github/workflows/ci.yml".into(),
            branches: vec![branch.into()],
        }
    }

    #[test]
    fn remembers_the_latest_scope_and_stays_bounded() {
        let hints = ScopeHints::default();
        assert_eq!(hints.get("pipe_1"), None);
        hints.remember("pipe_1", &scope("main"));
        hints.remember("pipe_1", &scope("dev"));
        assert_eq!(hints.get("pipe_1"), Some(scope("dev")));
        for i in 0..MAX_HINTS + 10 {
            hints.remember(&format!("pipe_x{i}"), &scope("main"));
        }
        assert!(hints.scopes.lock().unwrap().len() <= MAX_HINTS);
    }
}

//! What wakes the alert evaluator, and what it should look at then: the pipelines a batch of
//! deliveries touched (their rules are evaluated at once, the others wait for the sweep), or
//! everything (a rule or a setting changed).

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug, Default, PartialEq)]
pub struct Touched {
    /// Every pipeline and the global rules.
    pub everything: bool,
    /// Pipelines touched since the last evaluation.
    pub pipelines: HashSet<String>,
}

#[derive(Default)]
pub struct Wake {
    notify: Notify,
    touched: Mutex<Touched>,
}

impl Wake {
    /// These pipelines changed (a batch's runs or jobs).
    pub fn pipelines(&self, ids: impl IntoIterator<Item = String>) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        let before = touched.pipelines.len();
        touched.pipelines.extend(ids);
        if touched.pipelines.len() > before {
            drop(touched);
            self.notify.notify_one();
        }
    }

    /// Rules or settings changed: everything is evaluated.
    pub fn everything(&self) {
        self.touched.lock().unwrap_or_else(|e| e.into_inner()).everything = true;
        self.notify.notify_one();
    }

    pub(super) async fn notified(&self) {
        self.notify.notified().await;
    }

    /// What was touched since the last call.
    pub(super) fn take(&self) -> Touched {
        std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touched_pipelines_gather_until_taken() {
        let wake = Wake::default();
        wake.pipelines(["pipe_a".to_string(), "pipe_b".to_string()]);
        wake.pipelines(["pipe_a".to_string()]);
        let touched = wake.take();
        assert!(!touched.everything);
        assert_eq!(touched.pipelines, HashSet::from(["pipe_a".to_string(), "pipe_b".to_string()]));
        assert_eq!(wake.take(), Touched::default());
        wake.everything();
        assert!(wake.take().everything);
    }
}

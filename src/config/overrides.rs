//! Command-line overrides applied to a validated experiment before it is expanded and run.

use super::raw::RawModel;
use super::Experiment;

/// `run --model NAME`: the model requested (and, for a provisioned server, served) instead of
/// `model.name`. The resolved config changes too, so result files, the journal's config hash
/// and `--resume` all see the model that ran.
pub fn set_model(exp: &mut Experiment, name: &str) {
    exp.model.name = name.to_string();
    let raw = exp.resolved.model.get_or_insert_with(RawModel::default);
    raw.name = Some(name.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{Fixture, VALID};

    #[test]
    fn the_model_override_reaches_every_iteration_and_the_resolved_config() {
        let f = Fixture::new();
        let mut exp = f
            .load(&format!(
                "{VALID}  type: concurrent\n  sweep: {{concurrency: [1, 2]}}\n"
            ))
            .unwrap();
        set_model(&mut exp, "sim-model");
        let iterations = crate::config::sweep::iterations(&exp);
        assert_eq!(iterations.len(), 2);
        for it in &iterations {
            assert_eq!(it.experiment.model.name, "sim-model");
            let raw = it.experiment.resolved.model.as_ref().unwrap();
            assert_eq!(raw.name.as_deref(), Some("sim-model"));
        }
    }
}

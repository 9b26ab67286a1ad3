//! Parsing and validation of the whole run configuration, with the built-in tasks' sections as
//! a program sees them (the `config` module itself names no task).

use std::path::Path;

use gfn_common::config::*;
use gfn_common::objective::{
    BackwardPolicy, Balance, BalanceObjective, FlowMatching, LogRewardWarmUp, Objective,
};
use gfn_common::task::hypergrid::{HypergridConfig, HypergridTask};
use gfn_common::task::{BuiltinTasks, TaskPlugin, Tasks};

/// Parsed and validated against the built-in tasks, as every program does.
fn checked(text: &str, origin: Option<&Path>) -> Result<RunConfig, ConfigError> {
    BuiltinTasks::default().config_from_str(text, origin, &[])
}

/// Each `(keys, expected)`: a flow-matching `[objective]` with `keys` is refused with an error
/// that contains `expected`.
fn assert_flow_matching_refused(cases: &[(&str, &str)]) {
    for (keys, expected) in cases {
        let text = format!("[objective]\ntype = \"flow_matching\"\n{keys}");
        let error = checked(&text, None).unwrap_err().to_string();
        assert!(error.contains(expected), "{keys:?}: {error}");
    }
}

#[test]
fn embedded_default_is_the_papers_4d_grid() {
    let config = RunConfig::embedded_default();
    assert_eq!(config.env.task(), HypergridTask::NAME);
    assert_eq!(config.env.parse::<HypergridConfig>().unwrap(), HypergridConfig::default());
    assert_eq!(config.training.batch_size, 16);
    assert_eq!(config.policy, PolicyConfig::mlp(256, 2));
}

#[test]
fn objectives_parse_with_their_defaults_and_checks() {
    let tb = checked("[objective]\ntype = \"trajectory_balance\"\n", None).unwrap();
    assert_eq!(tb.objective, ObjectiveConfig::TrajectoryBalance(TrajectoryBalanceConfig::default()));
    assert_eq!(tb.objective.log_z_learning_rate(), Some(0.1));
    assert!(tb.objective.objective().learns_log_z());
    let subtb =
        "[objective]\ntype = \"sub_trajectory_balance\"\nlambda = 0.5\nbackward_policy = \"learned\"\n";
    let subtb = checked(subtb, None).unwrap();
    assert_eq!(
        subtb.objective.objective(),
        Objective::Balance(BalanceObjective::new(
            Balance::SubTrajectory { lambda: 0.5 },
            BackwardPolicy::Learned
        ))
    );
    assert_eq!(subtb.objective.objective().extra_outputs(5), 1 + 5);
    let db = checked("[objective]\ntype = \"detailed_balance\"\n", None).unwrap();
    assert!(db.objective.objective().has_state_flow());
    // flow matching's ε is not a trajectory-balance key
    let error =
        checked("[objective]\ntype = \"trajectory_balance\"\nepsilon = 1.0\n", None).unwrap_err().to_string();
    assert!(error.contains("epsilon"), "{error}");
    let bad = "[env]\ntype = \"fragments\"\n[objective]\ntype = \"detailed_balance\"\nbackward_policy = \"learned\"\n\
               [training.replay]\nfraction = 1.0\n";
    let error = checked(bad, None).unwrap_err().to_string();
    assert!(
        error.contains("objective.backward_policy") && error.contains("training.replay.fraction"),
        "{error}"
    );
}

#[test]
fn molecule_recipe_knobs_parse_and_are_checked() {
    let paper = "[objective]\ntype = \"flow_matching\"\nleaf_weight = 10.0\nsink_forced_terminals = true\n\
                 [training]\nbatch_size = 4\nearly_stop_probability = 0.1\n\
                 [learner]\nmax_queued_updates = 2\nintra_op_threads = 2\n";
    let config = checked(paper, None).unwrap();
    assert_eq!(
        config.objective.objective(),
        Objective::FlowMatching(FlowMatching {
            leaf_weight: 10.0,
            sink_forced_terminals: true,
            ..FlowMatching::with_epsilon(2.5e-5)
        })
    );
    assert_eq!(config.training.early_stop_probability, 0.1);
    // the queue holds 2 updates of 4 trajectories, whatever queue_capacity says
    assert_eq!(config.ingest_queue_capacity(), 8);
    assert_eq!(config.learner_threads(), 2);
    let defaults = RunConfig::embedded_default();
    assert_eq!(defaults.ingest_queue_capacity(), defaults.learner.queue_capacity);
    assert_eq!(defaults.learner_threads(), defaults.training.intra_op_threads);
    let bad = "[objective]\ntype = \"flow_matching\"\nleaf_weight = 0.0\n\
               [training]\nearly_stop_probability = 1.5\n[learner]\nintra_op_threads = 1000\n";
    let error = checked(bad, None).unwrap_err().to_string();
    for key in ["objective.leaf_weight", "training.early_stop_probability", "learner.intra_op_threads"] {
        assert!(error.contains(key), "{key} missing from: {error}");
    }
    let negative = "[objective]\ntype = \"flow_matching\"\nleaf_weight = -1.0\n";
    let error = checked(negative, None).unwrap_err().to_string();
    assert!(error.contains("objective.leaf_weight must be positive and finite (got -1)"), "{error}");
    // a leaf weight belongs to flow matching only
    let error = checked("[objective]\ntype = \"trajectory_balance\"\nleaf_weight = 2.0\n", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("leaf_weight"), "{error}");
    // the sink switch is a boolean of flow matching only
    let error = checked("[objective]\ntype = \"flow_matching\"\nsink_forced_terminals = \"yes\"\n", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("sink_forced_terminals") || error.contains("boolean"), "{error}");
    let error = checked("[objective]\ntype = \"trajectory_balance\"\nsink_forced_terminals = true\n", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("sink_forced_terminals"), "{error}");
}

#[test]
fn the_epsilon_warm_up_parses_and_is_checked() {
    let warmed = "[objective]\ntype = \"flow_matching\"\nepsilon = 2.5e-5\nepsilon_start = 1e-6\n\
                  epsilon_warmup_updates = 2000\n";
    let config = checked(warmed, None).unwrap();
    let Objective::FlowMatching(fm) = config.objective.objective() else { panic!("flow matching") };
    assert_eq!((fm.epsilon, fm.epsilon_start, fm.epsilon_warmup_updates), (2.5e-5, 1e-6, 2000));
    assert!((fm.at_update(0).epsilon - 1e-6).abs() < 1e-15, "{}", fm.at_update(0).epsilon);
    assert_eq!(fm.at_update(2000).epsilon, 2.5e-5);
    // the written configuration reads back the same
    let written = toml::to_string(&config).unwrap();
    assert_eq!(checked(&written, None).unwrap().objective, config.objective);
    let cases = [
        (
            "epsilon_warmup_updates = 10\n",
            "objective.epsilon_start must be set when epsilon_warmup_updates > 0",
        ),
        (
            "epsilon_start = 1e-6\n",
            "objective.epsilon_start must be left out unless epsilon_warmup_updates > 0",
        ),
        (
            "epsilon_start = -1.0\nepsilon_warmup_updates = 10\n",
            "objective.epsilon_start must be positive and finite (got -1)",
        ),
        (
            "epsilon = 0.0\nepsilon_start = 1e-6\nepsilon_warmup_updates = 10\n",
            "objective.epsilon must be positive when epsilon_warmup_updates > 0",
        ),
    ];
    assert_flow_matching_refused(&cases);
    let error = checked("[objective]\ntype = \"trajectory_balance\"\nepsilon_warmup_updates = 10\n", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("epsilon_warmup_updates"), "{error}");
    // the floor that follows log Z
    let tracking = "[objective]\ntype = \"flow_matching\"\nepsilon_log_z_threshold = 0.0\n";
    let config = checked(tracking, None).unwrap();
    let Objective::FlowMatching(fm) = config.objective.objective() else { panic!("flow matching") };
    assert_eq!(fm.epsilon_log_z_threshold, Some(0.0));
    let written = toml::to_string(&config).unwrap();
    assert_eq!(checked(&written, None).unwrap().objective, config.objective);
    let error = checked("[objective]\ntype = \"trajectory_balance\"\nepsilon_log_z_threshold = 0.0\n", None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("epsilon_log_z_threshold"), "{error}");
}

#[test]
fn the_log_reward_warm_up_parses_and_is_checked() {
    let warmed = "[objective]\ntype = \"flow_matching\"\nlog_reward_scale_start = 0.25\n\
                  log_reward_warmup_updates = 2500\n";
    let config = checked(warmed, None).unwrap();
    let Objective::FlowMatching(fm) = config.objective.objective() else { panic!("flow matching") };
    assert_eq!(fm.log_reward_warmup, LogRewardWarmUp { scale_start: 0.25, updates: 2500 });
    assert_eq!((fm.at_update(0).log_reward_scale, fm.at_update(2500).log_reward_scale), (0.25, 1.0));
    let written = toml::to_string(&config).unwrap();
    assert_eq!(checked(&written, None).unwrap().objective, config.objective);
    // without the keys every update trains on the reward as given
    let plain = checked("[objective]\ntype = \"flow_matching\"\n", None).unwrap();
    let Objective::FlowMatching(fm) = plain.objective.objective() else { panic!("flow matching") };
    assert_eq!((fm.at_update(0).log_reward_scale, fm.log_reward_warmup), (1.0, LogRewardWarmUp::NONE));
    let cases = [
        (
            "log_reward_warmup_updates = 10\n",
            "objective.log_reward_scale_start must be set when log_reward_warmup_updates > 0",
        ),
        (
            "log_reward_scale_start = 0.5\n",
            "objective.log_reward_scale_start must be left out unless log_reward_warmup_updates > 0",
        ),
        (
            "log_reward_scale_start = 0.0\nlog_reward_warmup_updates = 10\n",
            "objective.log_reward_scale_start must be positive and finite (got 0)",
        ),
        // serde's tagged `[objective]` table loses the key's position: the type is named
        (
            "log_reward_scale_start = \"low\"\nlog_reward_warmup_updates = 10\n",
            "invalid type: string \"low\", expected f64",
        ),
    ];
    assert_flow_matching_refused(&cases);
    // the balance objectives take the same keys, with the same checks
    for objective in ["trajectory_balance", "detailed_balance", "sub_trajectory_balance"] {
        for (keys, expected) in &cases[..3] {
            let text = format!("[objective]\ntype = \"{objective}\"\n{keys}");
            let error = checked(&text, None).unwrap_err().to_string();
            assert!(error.contains(expected), "{objective} {keys:?}: {error}");
        }
        let text = format!(
            "[objective]\ntype = \"{objective}\"\nlog_reward_scale_start = 0.25\n\
                            log_reward_warmup_updates = 2500\n"
        );
        let config = checked(&text, None).unwrap();
        let Objective::Balance(balance) = config.objective.objective() else { panic!("{objective}") };
        assert_eq!(balance.log_reward_warmup, LogRewardWarmUp { scale_start: 0.25, updates: 2500 });
        let (first, last) = (balance.at_update(0), balance.at_update(2500));
        assert_eq!((first.log_reward_scale, last.log_reward_scale), (0.25, 1.0), "{objective}");
        let written = toml::to_string(&config).unwrap();
        assert_eq!(checked(&written, None).unwrap().objective, config.objective);
        let plain = checked(&format!("[objective]\ntype = \"{objective}\"\n"), None).unwrap();
        let Objective::Balance(balance) = plain.objective.objective() else { panic!("{objective}") };
        assert_eq!(
            (balance.at_update(0).log_reward_scale, balance.log_reward_warmup),
            (1.0, LogRewardWarmUp::NONE)
        );
    }
}

#[test]
fn training_precision_parses_and_names_the_choices_when_wrong() {
    assert_eq!(RunConfig::embedded_default().training.precision, Precision::Float32);
    let double = checked("[training]\nprecision = \"float64\"\n", None).unwrap();
    assert_eq!(double.training.precision, Precision::Float64);
    assert_eq!(double.training.precision.kind(), tch::Kind::Double);
    let again = checked(&double.to_toml_string(), None).unwrap();
    assert_eq!(again.training.precision, Precision::Float64);
    let error = checked("[training]\nprecision = \"float16\"\n", None).unwrap_err().to_string();
    assert!(error.contains("float16") && error.contains("float32") && error.contains("float64"), "{error}");
}

#[test]
fn conditioning_exponents_are_checked() {
    let ok = checked("[conditioning]\nreward_exponents = [1.0, 4.0]\n", None).unwrap();
    assert!(ok.conditioning.enabled());
    assert!(!RunConfig::embedded_default().conditioning.enabled());
    let error = checked("[conditioning]\nreward_exponents = [1.0, -2.0]\n", None).unwrap_err().to_string();
    assert!(error.contains("conditioning.reward_exponents") && error.contains("positive"), "{error}");
    let molecules = "[env]\ntype = \"fragments\"\n[conditioning]\nreward_exponents = [1.0]\n";
    let error = checked(molecules, None).unwrap_err().to_string();
    assert!(error.contains("env.reward_exponent") && error.contains("1 when conditioning"), "{error}");
    let molecules = molecules.replace("\"fragments\"", "\"fragments\"\nreward_exponent = 1.0");
    assert!(checked(&molecules, None).unwrap().conditioning.enabled());
}

#[test]
fn round_trips_through_toml() {
    let config = RunConfig::embedded_default();
    let again = checked(&config.to_toml_string(), None).unwrap();
    assert_eq!(config, again);
}

#[test]
fn every_out_of_range_value_is_named() {
    let text = r#"
        [env]
        type = "hypergrid"
        ndim = 0
        height = 1
        r0 = -0.1
        [training]
        batch_size = 0
        learning_rate = -1.0
    "#;
    let error = checked(text, None).unwrap_err().to_string();
    for key in ["env.ndim", "env.height", "env.r0", "training.batch_size", "training.learning_rate"] {
        assert!(error.contains(key), "{key} missing from: {error}");
    }
    assert!(!error.contains("env.r1"), "{error}");
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let error = checked("[training]\nbatch_sise = 3\n", Some(Path::new("x.toml"))).unwrap_err().to_string();
    assert!(error.contains("batch_sise") && error.contains("x.toml"), "{error}");
    let error = checked("[env]\ntype = \"hypergrid\"\nhieght = 3\n", None).unwrap_err().to_string();
    assert!(error.contains("hieght"), "{error}");
    let error = checked("[env]\ntype = \"hypercube\"\n", None).unwrap_err().to_string();
    assert!(error.contains("hypercube"), "{error}");
    let error = checked("sed = 1\n", None).unwrap_err().to_string();
    assert!(error.contains("sed"), "{error}");
}

#[test]
fn each_network_takes_only_its_own_keys() {
    let molecules = "[env]\ntype = \"fragments\"\n[policy]\nhidden = 64\n";
    let config = checked(&format!("{molecules}rounds = 5\nmessage_passing = \"gru\"\n"), None).unwrap();
    assert_eq!((config.policy.rounds(), config.policy.message_passing()), (5, MessagePassing::Gru));
    let defaults = checked(molecules, None).unwrap();
    assert_eq!(
        (defaults.policy.rounds(), defaults.policy.message_passing()),
        (DEFAULT_ROUNDS, MessagePassing::Residual)
    );
    // the MLP's key on the block-graph network is refused, naming the key to use
    let error = checked(&format!("{molecules}hidden_layers = 3\n"), None).unwrap_err().to_string();
    assert!(
        error.contains("policy.hidden_layers must be left out") && error.contains("policy.rounds"),
        "{error}"
    );
    // and the block-graph keys on a grid
    let grid = "[policy]\nhidden = 64\nhidden_layers = 3\nrounds = 4\nmessage_passing = \"gru\"\n";
    let error = checked(grid, None).unwrap_err().to_string();
    assert!(
        error.contains("policy.rounds must be left out")
            && error.contains("policy.message_passing must be left out"),
        "{error}"
    );
    let grid = checked("[policy]\nhidden_layers = 3\n", None).unwrap();
    assert_eq!(grid.policy.mlp_hidden_layers(), 3);
    assert_eq!(
        checked("[policy]\nhidden = 8\n", None).unwrap().policy.mlp_hidden_layers(),
        DEFAULT_HIDDEN_LAYERS
    );
    let error = checked(&format!("{molecules}rounds = 0\n"), None).unwrap_err().to_string();
    assert!(error.contains("policy.rounds must be between 1 and 64 (got 0)"), "{error}");
    // a configuration round-trips without the keys it left out
    let text = config.to_toml_string();
    assert!(!text.contains("hidden_layers"), "{text}");
    assert_eq!(checked(&text, None).unwrap(), config);
}

#[test]
fn sections_check_themselves_and_cross_section_rules_still_apply() {
    // one problem in each of several sections, all reported at once, each under its own key
    let text = "[env]\ntype = \"bit_sequences\"\nn = 20\nk = 4\n[training]\ntemperature = 0.0\n\
                [checkpoint]\nkeep = 0\n[learner]\nweights_interval_updates = 0\n[actor]\nsubmit_batch = 0\n\
                [security]\ntls_client_ca = \"ca.pem\"\n[evaluation]\ninterval_updates = 0\n";
    let ConfigError::Invalid { problems } = checked(text, None).unwrap_err() else {
        panic!("an Invalid error")
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.split_whitespace().next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "env.n",
            "training.temperature",
            "evaluation.interval_updates",
            "checkpoint.keep",
            "learner.weights_interval_updates",
            "actor.submit_batch",
            "security.tls_client_ca",
        ],
        "{problems:?}"
    );
}

#[test]
fn a_reward_service_section_parses_and_is_checked() {
    let text = "[env]\ntype = \"fragments\"\n[reward]\ntype = \"service\"\nendpoints = [\"127.0.0.1:50061\", \"https://r:1\"]\n\
                exponent = 10.0\nmin = 0.1\nnorm = 8.0\nmax_batch = 32\n";
    let config = checked(text, None).unwrap();
    let service = config.reward.service().expect("a service");
    assert_eq!(service.endpoints.len(), 2);
    assert_eq!(service.max_batch, 32);
    assert_eq!(service.attempts, RewardServiceConfig::default().attempts);
    let (log_reward, _) =
        service.transform().apply(4.0, gfn_common::reward::service::ValueKind::Score).unwrap();
    assert!((log_reward - 10.0 * 0.5f64.ln()).abs() < 1e-12);
    assert_eq!(checked(&config.to_toml_string(), None).unwrap(), config);
    // the default is the built-in reward
    assert_eq!(RunConfig::embedded_default().reward, RewardConfig::Builtin);
    assert!(checked("[reward]\ntype = \"builtin\"\n", None).unwrap().reward.service().is_none());

    // every bad value named, all at once
    let bad = "[reward]\ntype = \"service\"\ndns = \"no-port\"\nexponent = 0.0\nmax_batch = 0\nmax_in_flight = 0\n\
               deadline_ms = -1.0\nattempts = 0\nbackoff_initial_ms = 50.0\nbackoff_max_ms = 10.0\neject_after_failures = 0\n";
    let error = checked(bad, None).unwrap_err().to_string();
    for key in [
        "reward.dns",
        "reward.exponent",
        "reward.max_batch",
        "reward.max_in_flight",
        "reward.deadline_ms",
        "reward.attempts",
        "reward.backoff_max_ms",
        "reward.eject_after_failures",
    ] {
        assert!(error.contains(key), "{key} missing from: {error}");
    }
    let no_endpoint = checked("[reward]\ntype = \"service\"\n", None).unwrap_err().to_string();
    assert!(no_endpoint.contains("reward.endpoints must be non-empty, or reward.dns given"), "{no_endpoint}");
    // unknown keys and kinds are refused
    let typo = checked("[reward]\ntype = \"service\"\nendpoint = [\"a:1\"]\n", None).unwrap_err();
    assert!(typo.to_string().contains("endpoint"), "{typo}");
    assert!(checked("[reward]\ntype = \"oracle\"\n", None).is_err());
    // conditioning on a service's scores is refused with the reason
    let conditioned = "[reward]\ntype = \"service\"\nendpoints = [\"a:1\"]\n[conditioning]\nreward_exponents = [1.0, 2.0]\n";
    let error = checked(conditioned, None).unwrap_err().to_string();
    assert!(error.contains("reward.type must be \"builtin\" when conditioning"), "{error}");
}

#[test]
fn overrides_are_checked_like_the_file() {
    let tasks = BuiltinTasks::default();
    let sets = ["training.batch_size=4".to_string(), "env.height=16".to_string()];
    let config = tasks.config_from_str(DEFAULT_CONFIG_TOML, None, &sets).unwrap();
    assert_eq!(config.training.batch_size, 4);
    assert_eq!(config.env.parse::<HypergridConfig>().unwrap().height, 16);
    // out of range, unknown and mistyped keys are refused as in a file
    let error =
        tasks.config_from_str(DEFAULT_CONFIG_TOML, None, &["training.batch_size=0".into()]).unwrap_err();
    assert!(error.to_string().contains("training.batch_size must be at least 1"), "{error}");
    let error =
        tasks.config_from_str(DEFAULT_CONFIG_TOML, None, &["training.batch_sise=4".into()]).unwrap_err();
    assert!(error.to_string().contains("batch_sise"), "{error}");
    let error = tasks.config_from_str(DEFAULT_CONFIG_TOML, None, &["env.heigth=4".into()]).unwrap_err();
    assert!(error.to_string().contains("heigth"), "{error}");
    let error = tasks.config_from_str(DEFAULT_CONFIG_TOML, None, &["seed=\"x\"".into()]).unwrap_err();
    assert!(error.to_string().contains("seed") || error.to_string().contains("integer"), "{error}");
}

#[test]
fn objective_services_parse_round_trip_and_are_checked() {
    let text = r#"
        [env]
        type = "fragments"
        reward_exponent = 1.0
        [conditioning]
        objectives = ["seh", "qed", "sa", "dock"]
        [[conditioning.services]]
        name = "properties"
        objectives = ["qed", "sa"]
        dns = "props.gfn.svc.cluster.local:50061"
        deadline_ms = 20000.0
        [[conditioning.services]]
        name = "docking"
        objectives = ["dock"]
        endpoints = ["10.0.0.9:50062"]
        scales = { dock = [-4.0, -12.0] }
    "#;
    let config = checked(text, None).unwrap();
    let services = &config.conditioning.services;
    assert_eq!(services.len(), 2);
    assert_eq!(services[0].objectives, ["qed", "sa"]);
    assert_eq!(services[0].connection.dns.as_deref(), Some("props.gfn.svc.cluster.local:50061"));
    assert_eq!(services[0].connection.deadline_ms, 20_000.0);
    assert_eq!(services[0].connection.attempts, RewardServiceConfig::default().attempts);
    assert_eq!(services[1].scales["dock"], [-4.0, -12.0]);
    // the actors receive the configuration as TOML
    assert_eq!(checked(&config.to_toml_string(), None).unwrap(), config);

    let refused = [
        ("objectives = [\"qed\", \"sa\"]", "objectives = [\"qed\", \"logp\"]", "services[0].objectives"),
        ("name = \"docking\"", "name = \"properties\"", "distinct names"),
        ("deadline_ms = 20000.0", "deadline_ms = 20000.0\ndeadlin_ms = 1.0", "deadlin_ms"),
        ("deadline_ms = 20000.0", "deadline_ms = -1.0", "services[0].deadline_ms"),
        ("scales = { dock = [-4.0, -12.0] }", "scales = { dock = [-4.0, -4.0] }", "services[1].scales"),
        ("objectives = [\"dock\"]", "objectives = [\"sa\"]", "each from one service only"),
    ];
    for (from, to, expected) in refused {
        let error = checked(&text.replace(from, to), None).unwrap_err().to_string();
        assert!(error.contains(expected), "{to:?}: {error}");
    }
}

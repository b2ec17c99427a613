//! Damaged model directories are refused by name, before anything runs.

use psionic_model::make_test::{test_config, write};
use psionic_model::{CONFIG_FILE, Model, ModelError, WEIGHTS_FILE};

fn written() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &test_config(), 5).unwrap();
    dir
}

#[test]
fn a_truncated_weights_file_is_refused() {
    let dir = written();
    let path = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(Model::load(dir.path()), Err(ModelError::Safetensors(_))));
}

#[test]
fn weights_of_another_shape_are_refused_naming_the_tensor() {
    let dir = written();
    let mut config = test_config();
    config.intermediate_size = 256;
    std::fs::write(dir.path().join(CONFIG_FILE), serde_json::to_vec(&config).unwrap()).unwrap();
    match Model::load(dir.path()) {
        Err(ModelError::TensorShape { name, found, expected }) => {
            assert_eq!(name, "model.layers.0.mlp.gate_proj.weight");
            assert_eq!((found, expected), (vec![352, 128], vec![256, 128]));
        }
        other => panic!("expected a shape refusal, got {other:?}"),
    }
}

#[test]
fn a_configuration_this_crate_cannot_run_is_refused() {
    let dir = written();
    let mut config = test_config();
    config.architectures = vec!["MistralForCausalLM".into()];
    std::fs::write(dir.path().join(CONFIG_FILE), serde_json::to_vec(&config).unwrap()).unwrap();
    assert!(matches!(Model::load(dir.path()), Err(ModelError::Architecture { .. })));
    let mut config = test_config();
    config.num_key_value_heads = Some(3);
    std::fs::write(dir.path().join(CONFIG_FILE), serde_json::to_vec(&config).unwrap()).unwrap();
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::KvHeads { heads: 8, kv_heads: 3 })
    ));
    let mut config = test_config();
    config.rope_scaling = Some(serde_json::json!({"type": "linear", "factor": 2.0}));
    std::fs::write(dir.path().join(CONFIG_FILE), serde_json::to_vec(&config).unwrap()).unwrap();
    assert!(matches!(
        Model::load(dir.path()),
        Err(ModelError::Unsupported {
            field: "rope_scaling",
            ..
        })
    ));
    std::fs::write(dir.path().join(CONFIG_FILE), b"{\"vocab_size\": 1}").unwrap();
    assert!(matches!(Model::load(dir.path()), Err(ModelError::Config(_))));
}

#[test]
fn a_missing_directory_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    match Model::load(&dir.path().join("absent")) {
        Err(ModelError::Io { path, .. }) => assert!(path.ends_with(CONFIG_FILE)),
        other => panic!("expected an I/O refusal, got {other:?}"),
    }
}

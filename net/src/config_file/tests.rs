use super::*;
use psionic_core::digest::to_hex;

fn config_with_devices(devices: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "the lab's admission token, 2026").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.path().join("node.toml");
    let text = format!(
        "data_dir = \"n1\"\nnamespace = \"lab\"\ncluster_genesis = \"lab\"\nrole = \"both\"\n\
         discovery_bind = \"127.0.0.1:0\"\noperator_bind = \"127.0.0.1:0\"\n\
         [trust]\nposture = \"trusted-lan\"\nadmission_token_file = \"token\"\n{devices}"
    );
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn probe_interval_ms(loaded: &ConfigFile) -> u64 {
    match loaded.settings.devices {
        DeviceSource::Probe { every_ms } => every_ms,
        DeviceSource::Given(_) => panic!("a configuration file probes the driver"),
    }
}

#[test]
fn the_device_probe_interval_is_configurable_and_bounded() {
    let (_dir, path) = config_with_devices("");
    let loaded = ConfigFile::load(&path).unwrap();
    assert_eq!(probe_interval_ms(&loaded), PROBE_INTERVAL_MS_DEFAULT);

    let (_dir, path) = config_with_devices("[devices]\nprobe_interval_ms = 1000\n");
    assert_eq!(probe_interval_ms(&ConfigFile::load(&path).unwrap()), 1000);

    let (_dir, path) = config_with_devices("[devices]\nprobe_interval_ms = 10\n");
    let refused = ConfigFile::load(&path).unwrap_err();
    assert!(
        matches!(
            refused,
            ConfigFileError::ProbeIntervalTooShort {
                given_ms: 10,
                min_ms: 100,
                ..
            }
        ),
        "{refused}"
    );

    let (_dir, path) = config_with_devices("[devices]\nprobe_every = 1000\n");
    let refused = ConfigFile::load(&path).unwrap_err().to_string();
    assert!(refused.contains("probe_every") && refused.contains("line"), "{refused}");
}

#[test]
fn the_reference_executor_holds_the_models_named_and_only_without_a_models_directory() {
    let model = "1bbb359a3a13fa3ccdac3a469a16b364a1a88b5ae48c7ea37254dd22dc3c6ef9";
    let (_dir, path) = config_with_devices(&format!("[executor]\nreference_models = [\"{model}\"]\n"));
    let held = ConfigFile::load(&path).unwrap().settings.executor.held_models();
    assert_eq!(held.iter().map(ToString::to_string).collect::<Vec<_>>(), [model]);

    let (_dir, path) = config_with_devices("[executor]\nreference_models = [\"not hex\"]\n");
    let refused = ConfigFile::load(&path).unwrap_err().to_string();
    assert!(refused.contains("reference_models"), "{refused}");

    let (dir, path) = config_with_devices(&format!(
        "[executor]\nreference_models = [\"{model}\"]\n[artifacts]\ndir = \"models\"\n"
    ));
    std::fs::create_dir(dir.path().join("models")).unwrap();
    let refused = ConfigFile::load(&path).unwrap_err();
    assert!(
        matches!(
            refused,
            ConfigFileError::Artifacts {
                error: ArtifactsConfigError::ReferenceModelsWithModels,
                ..
            }
        ),
        "{refused}"
    );
}

#[test]
fn the_reference_executor_step_time_is_configurable_and_bounded() {
    let (_dir, path) = config_with_devices("");
    assert!(ConfigFile::load(&path).unwrap().settings.executor.step_time().is_zero());

    let (_dir, path) = config_with_devices("[executor]\nreference_step_ms = 5\n");
    let loaded = ConfigFile::load(&path).unwrap();
    assert_eq!(
        loaded.settings.executor.step_time(),
        std::time::Duration::from_millis(5)
    );

    let (_dir, path) = config_with_devices("[executor]\nreference_step_ms = 60000\n");
    let refused = ConfigFile::load(&path).unwrap_err();
    assert!(
        matches!(
            refused,
            ConfigFileError::ReferenceStepTooLong {
                given_ms: 60_000,
                max_ms: REFERENCE_STEP_MS_MAX,
                ..
            }
        ),
        "{refused}"
    );
}

#[test]
fn the_bandwidth_probe_frame_size_is_configurable() {
    let frame_bytes = |section: &str| {
        let (_dir, path) = config_with_devices(section);
        ConfigFile::load(&path)
            .unwrap()
            .settings
            .discovery
            .link_probe_frame_bytes
    };
    assert_eq!(frame_bytes(""), DiscoveryConfig::default().link_probe_frame_bytes);
    assert_eq!(frame_bytes("[discovery]\nlink_probe_frame_bytes = 4096\n"), 4096);
}

#[test]
fn admission_lists_no_one_under_trusted_lan_and_the_pinned_keys_under_configured_peers() {
    let (_dir, path) = config_with_devices("");
    assert!(
        ConfigFile::load(&path)
            .unwrap()
            .settings
            .consensus
            .admit_only
            .is_empty()
    );

    let listed = "0123456789abcdef0123456789abcdef";
    let (_dir, path) = config_with_devices(&format!("[consensus]\nadmit_only = [\"{listed}\"]\n"));
    let admit_only = ConfigFile::load(&path).unwrap().settings.consensus.admit_only;
    assert_eq!(admit_only.iter().map(NodeId::to_hex).collect::<Vec<_>>(), [listed]);

    let key = psionic_core::NodeIdentity::new([9; 32], psionic_core::NodeEpoch(0)).public_key();
    let (dir, path) = config_with_devices("");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "posture = \"trusted-lan\"\nadmission_token_file = \"token\"",
        &format!(
            "posture = \"configured-peers\"\npeer_public_keys = [\"{}\"]",
            to_hex(key.as_bytes())
        ),
    );
    std::fs::write(dir.path().join("node.toml"), text).unwrap();
    let admit_only = ConfigFile::load(&path).unwrap().settings.consensus.admit_only;
    assert_eq!(
        admit_only.into_iter().collect::<Vec<_>>(),
        [NodeId::from_public_key(&key)]
    );
}

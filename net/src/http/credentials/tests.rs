use super::*;

fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn added_credentials_authenticate_by_token_with_their_scopes_and_the_file_holds_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.toml");
    append(
        &path,
        "ci-reader",
        [Scope::Read].into(),
        b"reader token, 32 bytes or so....",
    )
    .unwrap();
    append(
        &path,
        "ops",
        [Scope::Operate, Scope::Admin].into(),
        b"ops token, also long enough.....",
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("reader token"), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let credentials = Credentials::load(&path).unwrap();
    let reader = credentials.authenticate(b"reader token, 32 bytes or so....").unwrap();
    assert_eq!(
        (reader.id.as_str(), &reader.scopes),
        ("ci-reader", &[Scope::Read].into())
    );
    let ops = credentials.authenticate(b"ops token, also long enough.....").unwrap();
    assert_eq!(ops.scopes, [Scope::Operate, Scope::Admin].into());
    assert!(credentials.authenticate(b"a guess").is_none());

    let again = append(&path, "ops", [Scope::Read].into(), b"another token for the same id....");
    assert!(matches!(
        again,
        Err(CredentialsError::Invalid {
            problem: "id: used twice",
            ..
        })
    ));
}

#[test]
fn a_malformed_credential_is_refused_naming_its_place_and_problem() {
    let digest = "ab".repeat(32);
    let refused = |text: String| Credentials::load(&file_with(&text).1).unwrap_err().to_string();
    let entry = |id: &str, scopes: &str, digest: &str| {
        format!("[[credential]]\nid = \"{id}\"\nscopes = [{scopes}]\ntoken_sha256 = \"{digest}\"\n")
    };
    let twice = entry("ops", "\"read\"", &digest) + &entry("ops", "\"admin\"", &digest);
    assert!(refused(twice).contains("credential[1] (\"ops\"): id: used twice"));
    assert!(refused(entry("ops", "", &digest)).contains("scopes: at least one"));
    assert!(refused(entry("ops", "\"read\"", "abc")).contains("token_sha256: 64 hex digits"));
    assert!(refused(entry("a b", "\"read\"", &digest)).contains("id: 1 to 64"));
    assert!(refused(entry("local", "\"read\"", &digest)).contains("id: reserved"));
    let same_token = entry("a", "\"read\"", &digest) + &entry("b", "\"admin\"", &digest);
    assert!(refused(same_token).contains("another credential's token"));
    let unknown = refused(entry("ops", "\"root\"", &digest));
    assert!(unknown.contains("root") && unknown.contains("line"), "{unknown}");
}

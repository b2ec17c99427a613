//! Arguments, logging and the exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// A node of a Psionic inference cluster.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How a read relates to the writes around it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReadConsistency {
    /// Through the leader and a quorum: every change committed before the read.
    Linearizable,
    /// This node's own applied state.
    Serializable,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Where a running node's operator API is, for the client commands.
#[derive(Debug, clap::Args)]
pub struct Operator {
    /// The node's operator API address (`operator_bind` in its configuration).
    #[arg(long, default_value = "127.0.0.1:7480")]
    pub operator: SocketAddr,
    /// Print the node's JSON answer instead of a readable summary.
    #[arg(long)]
    pub json: bool,
    /// The operator token, for a node whose API is bound off loopback (it answers
    /// reads of the state, members and candidates only to its token there).
    #[arg(long = "read-token-file")]
    pub read_token_file: Option<std::path::PathBuf>,
    /// Speak HTTPS to a node whose API serves TLS (`operator_tls`), trusting the
    /// certificates in this PEM file (the node's own self-signed `cert_file`, or the
    /// authority that signed it).
    #[arg(long = "tls-ca")]
    pub tls_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a data directory and a new node identity (key, id, epoch 0).
    Init {
        /// Directory to create the identity in (created if absent, mode 0700).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Run a node until SIGTERM or Ctrl-C, from its configuration file or from the
    /// cluster's manifest.
    ///
    /// Prints one JSON line on standard output once listening: node id, epoch,
    /// discovery, stream and operator addresses.
    Run {
        /// The node's TOML configuration file.
        #[arg(long, required_unless_present = "manifest", conflicts_with = "manifest")]
        config: Option<PathBuf>,
        /// The cluster's operator manifest (with `--node`).
        #[arg(long, requires = "node")]
        manifest: Option<PathBuf>,
        /// This node's name in the manifest.
        #[arg(long, requires = "manifest")]
        node: Option<String>,
    },
    /// Copy a stopped node's durable state (identity, term and vote, snapshot, log)
    /// into a new directory.
    Backup {
        /// The node's data directory (the node must be stopped).
        #[arg(long)]
        data_dir: PathBuf,
        /// Directory to create and copy into.
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace a stopped node's durable state by a backup. The restored node neither
    /// votes nor stands for election until it has caught up with the leader; restore
    /// while the cluster has a stable leader.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// The node's data directory (created if absent; the node must be stopped).
        #[arg(long)]
        data_dir: PathBuf,
        /// Trust the backup as it is (no catching up before voting): only when every
        /// node of the cluster is restored at once, so there is no leader to catch up
        /// with; what was acknowledged after the backups were taken is lost.
        #[arg(long)]
        trust_backup: bool,
    },
    /// Work with an operator manifest.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Show a running node's status: role, term, leader, indexes, peers.
    Status {
        #[command(flatten)]
        operator: Operator,
    },
    /// List the cluster's members as a running node sees them.
    Members {
        #[command(flatten)]
        operator: Operator,
        /// `linearizable` (through the leader: every committed change included) or
        /// `serializable` (this node's own view, however far behind).
        #[arg(long, value_enum, default_value_t = ReadConsistency::Linearizable)]
        consistency: ReadConsistency,
    },
    /// List the authenticated peers that are not members, and how each would join
    /// (`automatic`, or `operator`: only an operator's `admit-member` admits it).
    Candidates {
        #[command(flatten)]
        operator: Operator,
    },
    /// Show the trust anchors a running node runs under (its trust bundle: posture,
    /// pinned keys, allowed binaries, and its digest; the committed authorization
    /// policy and admission token), as its signed capabilities state them.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Propose a cluster command (JSON) to a running node and wait for its outcome.
    ///
    /// Example: `psionic-node submit --token-file operator-token
    /// '{"set-policy":{"name":"placement","document":[1,2]}}'`
    Submit {
        #[command(flatten)]
        operator: Operator,
        /// File holding the node's operator token.
        #[arg(long)]
        token_file: PathBuf,
        /// The command as JSON; `-` reads it from standard input.
        command: String,
    },
    /// Ask the cluster to copy an artifact (by digest) to a node from a member that
    /// holds it, then follow the copy with a progress bar until it is resident.
    ///
    /// Example: `psionic-node stage --token-file operator-token --artifact <digest>
    /// --node <node id>`
    Stage {
        #[command(flatten)]
        operator: Operator,
        /// File holding an operator token with the `operate` scope.
        #[arg(long)]
        token_file: PathBuf,
        /// The artifact's digest (`psionic-node model list` shows it).
        #[arg(long)]
        artifact: String,
        /// The node to copy it to.
        #[arg(long)]
        node: String,
        /// Longest to wait for the copy to end, in seconds.
        #[arg(long, default_value_t = 600)]
        wait_s: u64,
    },
    /// Make a new key on a running node and print the command that rotates it to it
    /// (JSON, for `submit -` through the leader). The node keeps the new key staged
    /// in its identity file and moves to it when the log applies the command.
    RotateKey {
        #[command(flatten)]
        operator: Operator,
        /// File holding an operator token with the `admin` scope.
        #[arg(long)]
        token_file: PathBuf,
    },
    /// Show this machine's GPUs as the CUDA driver reports them, or why CUDA is not
    /// ready (no driver, no device, driver too old). CPU work is always ready.
    Devices {
        /// Print the readiness as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a signed execution-evidence bundle (the `evidence` of a completed
    /// request, or the whole `GET /v1/requests/{id}` answer) against the cluster's
    /// public keys: exit 0 when genuine, 6 when refused (tampered, unknown signer,
    /// not the leader its authority names, or issued under a fence older than
    /// `--fence-at-least`).
    VerifyEvidence {
        /// The bundle (JSON).
        file: PathBuf,
        /// The cluster's manifest: cluster id and every node's public key.
        #[arg(long, required_unless_present = "cluster_id")]
        manifest: Option<PathBuf>,
        /// The cluster id (32 hex digits), without a manifest.
        #[arg(long, conflicts_with = "manifest", requires = "key")]
        cluster_id: Option<String>,
        /// A trusted node public key (64 hex digits), or `<node id>=<key>` for a node
        /// whose key was rotated; repeat for each.
        #[arg(long)]
        key: Vec<String>,
        /// A voter of the term the evidence claims (node id, 32 hex digits; repeat for
        /// each): a majority of them must have signed their votes for the signer.
        /// Default: the manifest's voters, or every `--key`.
        #[arg(long)]
        voter: Vec<String>,
        /// Refuse evidence issued under an older fence (a deposed coordinator's).
        #[arg(long, default_value_t = 0)]
        fence_at_least: u64,
        /// The prompt the request was made with: refuse evidence signed over another.
        #[arg(long)]
        prompt: Option<String>,
    },
    /// Check a node's signed capabilities (`GET /v1/capabilities`, saved as JSON)
    /// offline: its signature, that its key is the node's, its trust digest, and
    /// (given) that the node's key is trusted and its binary allowed. Exit 0 genuine,
    /// 6 refused. The measurement is what the node read of itself, signed by its key:
    /// software, not hardware, attestation.
    VerifyCapabilities {
        /// The document (JSON).
        file: PathBuf,
        /// The cluster's manifest: trust its nodes' keys.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// A trusted node public key (64 hex digits), or `<node id>=<key>` for a node
        /// whose key was rotated; repeat for each.
        #[arg(long)]
        key: Vec<String>,
        /// An allowed binary SHA-256 (64 hex digits); repeat for each. None: any.
        #[arg(long = "allow-binary")]
        allow_binary: Vec<String>,
    },
    /// Manage an operator credentials file (`operator_credentials_file`): named
    /// tokens, each with its scopes, stored as digests. A node reads it at start and
    /// again on SIGHUP.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Work with models: write the test model, list a models directory.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Start a real N-node cluster on loopback in this process (temporary data
    /// directories), commit a few commands, print the state, and run until Ctrl-C.
    Demo {
        /// How many nodes (every one a voter).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
        nodes: u8,
        /// A models directory every node runs (`[artifacts] dir`): once each reports its
        /// first model resident, the demo serves one request for it.
        #[arg(long)]
        models: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TrustCommand {
    /// Print the node's trust anchors and their digest.
    Show {
        #[command(flatten)]
        operator: Operator,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialCommand {
    /// Add a credential with a fresh token: printed once (or written to --token-out);
    /// only its SHA-256 is stored. The file is created owner-only if absent.
    Add {
        /// The credentials file.
        #[arg(long)]
        file: PathBuf,
        /// Its name (letters, digits, '-', '_', '.'), recorded with what it does.
        #[arg(long)]
        id: String,
        /// A scope it holds: read, submit-requests, operate or admin; repeat for each.
        #[arg(long = "scope", required = true, value_parser = crate::credential::parse_scope)]
        scopes: Vec<psionic_core::state::Scope>,
        /// Write the token to this new owner-only file instead of printing it.
        #[arg(long)]
        token_out: Option<PathBuf>,
    },
    /// Remove a credential (a node drops it when it next reads the file: on SIGHUP).
    Remove {
        /// The credentials file.
        #[arg(long)]
        file: PathBuf,
        /// The credential's name.
        #[arg(long)]
        id: String,
    },
    /// List the credentials: ids and scopes.
    List {
        /// The credentials file.
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Write the test model (a small llama-architecture model with seeded weights and a
    /// byte-level tokenizer, about 4 MB) and print its artifact digest.
    MakeTest {
        /// The model directory to write (created if absent).
        #[arg(long)]
        out: PathBuf,
        /// The weights' seed: the same seed writes the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// List the models a models directory holds, as a node's scan sees them: digest,
    /// residency (`resident` or `failed`) and name.
    List {
        /// The models directory (`[artifacts] dir`).
        dir: PathBuf,
        /// Print JSON (with bytes, architecture, parameters, and each problem).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// Validate a manifest and print its rollout digest (exit 3 when invalid).
    Check {
        /// The manifest file (TOML).
        manifest: PathBuf,
    },
}

/// The documented exit codes.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    Usage = 2,
    Config = 3,
    DataDir = 4,
    Network = 5,
    Refused = 6,
}

/// A failed command: its exit code and one line for standard error.
pub type Failed = (Failure, String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Init { data_dir } => crate::serve::init(&data_dir),
        Command::Backup { data_dir, to } => crate::backup::backup(&data_dir, &to),
        Command::Restore {
            from,
            data_dir,
            trust_backup,
        } => crate::backup::restore(&from, &data_dir, trust_backup),
        Command::Run { config, manifest, node } => {
            crate::serve::run(config.as_deref(), manifest.as_deref(), node.as_deref())
        }
        Command::Manifest(ManifestCommand::Check { manifest }) => crate::serve::check_manifest(&manifest),
        Command::Status { operator } => crate::client::status(&operator),
        Command::Members { operator, consistency } => crate::client::members(&operator, consistency),
        Command::Candidates { operator } => crate::client::candidates(&operator),
        Command::Trust(TrustCommand::Show { operator }) => crate::client::trust_show(&operator),
        Command::Submit {
            operator,
            token_file,
            command,
        } => crate::client::submit(&operator, &token_file, &command),
        Command::RotateKey { operator, token_file } => crate::client::rotate_key(&operator, &token_file),
        Command::Stage {
            operator,
            token_file,
            artifact,
            node,
            wait_s,
        } => crate::stage::stage(&operator, &token_file, &artifact, &node, wait_s),
        Command::Demo { nodes, models } => crate::demo::run(nodes, models.as_deref()),
        Command::Model(ModelCommand::MakeTest { out, seed }) => crate::model::make_test(&out, seed),
        Command::Model(ModelCommand::List { dir, json }) => crate::model::list(&dir, json),
        Command::VerifyCapabilities {
            file,
            manifest,
            key,
            allow_binary,
        } => {
            let expected = crate::capabilities::Expected {
                manifest: manifest.as_deref(),
                keys: &key,
                binaries: &allow_binary,
            };
            crate::capabilities::verify(&file, &expected)
        }
        Command::Credential(CredentialCommand::Add {
            file,
            id,
            scopes,
            token_out,
        }) => crate::credential::add(&file, &id, &scopes, token_out.as_ref()),
        Command::Credential(CredentialCommand::Remove { file, id }) => crate::credential::remove(&file, &id),
        Command::Credential(CredentialCommand::List { file }) => crate::credential::list(&file),
        Command::Devices { json } => crate::serve::devices(json),
        Command::VerifyEvidence {
            file,
            manifest,
            cluster_id,
            key,
            voter,
            fence_at_least,
            prompt,
        } => {
            let trust = crate::evidence::Trust {
                manifest: manifest.as_deref(),
                cluster_id: cluster_id.as_deref(),
                keys: &key,
                voters: &voter,
                fence_at_least,
                prompt: prompt.as_deref(),
            };
            crate::evidence::verify(&file, &trust)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((failure, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(failure as u8)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

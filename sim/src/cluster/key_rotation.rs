//! Node key rotation as an operator runs it (the node stages a new key, kept in its
//! identity file first; the record is committed through the leader), and a thief
//! holding the key a node rotated from, speaking as that node once the key is
//! retired.

use std::time::Duration;

use psionic_core::wire::{Authenticator, Body, Recipient, Seal, Sealed};
use psionic_core::{ClusterCommand, ClusterId, NodeEpoch, NodeIdentity};
use psionic_net::IdentityFile;

use super::SimCluster;
use crate::report::NotApplied;
use crate::trace::Fault;

impl SimCluster {
    /// Rotates `name`'s key through the leader within `within`; answers the secret of
    /// the key it rotated from.
    pub async fn rotate_node_key(&mut self, name: &str, within: Duration) -> Result<[u8; 32], NotApplied> {
        let not_staged = |said: String| NotApplied::NotStaged {
            node: name.to_owned(),
            said,
        };
        let file = self.identity_file(name);
        let keys = self.live_handle(name).spawn(async move {
            let old = file.load_stored().await?;
            let secret = file.staged_or_new().await?;
            Ok::<_, psionic_net::IdentityError>((old.secret_key, secret))
        });
        let (old, secret) = keys
            .await
            .map_err(|_| not_staged("the node stopped".to_owned()))?
            .map_err(|error| not_staged(error.to_string()))?;
        let client = self.shared.state().clients.get(name).cloned();
        let client = client.ok_or(NotApplied::WrongState { node: name.to_owned() })?;
        let rotation = match client.stage_key(secret).await {
            Some(Ok(rotation)) => rotation,
            Some(Err(problem)) => return Err(not_staged(problem.to_string())),
            None => return Err(not_staged("the node stopped".to_owned())),
        };
        self.fault(Fault::NodeKeyStaged { node: name.to_owned() });
        let committed = self
            .operator_command(ClusterCommand::RotateNodeKey { rotation }, within)
            .await?;
        if let Some(refusal) = committed.refusal {
            return Err(NotApplied::RefusedAtApply { refusal });
        }
        Ok(old)
    }

    /// Every live honest node's applied state has `name`'s key rotated at least
    /// `rotations` times, the key before retired.
    pub(super) async fn key_retired(&self, name: &str, rotations: u64) -> bool {
        let live = self.live_honest();
        let reports = self.state_reports(&live).await;
        let id = self.node_id(name);
        live.iter().all(|viewer| {
            let keys = reports.get(viewer).and_then(|report| report.node_keys.get(&id));
            keys.is_some_and(|keys| keys.rotations >= rotations && keys.retiring.is_none())
        })
    }

    /// A frame as `victim`, sealed under the key of `retired_secret` (one it rotated
    /// from), to `to` under `to`'s key in force; what `to` refused of `victim` before
    /// is forgotten, so a refusal now is this frame's.
    pub async fn speak_with_retired_key(&mut self, victim: &str, retired_secret: [u8; 32], to: &str) {
        let target = self.current_identity(to).await;
        let victim_id = self.node_id(victim);
        let epoch = NodeEpoch(self.current_epoch(victim).0 + 1_000);
        let thief = NodeIdentity::of_node(victim_id, retired_secret, epoch);
        let spec = &self.node(to).spec;
        let settings = &spec.settings;
        let cluster_id = ClusterId::derive(&settings.namespace, &settings.cluster_genesis);
        let posture = self.shared.state().postures.get(to).cloned();
        let posture = posture.unwrap_or_else(|| settings.posture.clone());
        let mut authenticator = Authenticator::new(&posture, cluster_id, &thief);
        let sealed = Sealed {
            counter: u64::MAX / 8,
            transport: psionic_core::TransportClass::Datagram,
            auth_kind: authenticator.kind_for(true),
        };
        let hello = super::impostor::self_introduction(settings, self.genesis());
        let body = Body::new(cluster_id, &thief, Some(Recipient::of(&target)), sealed, hello);
        let Ok(frame) = psionic_core::wire::encode_frame(&body, &mut authenticator, Seal::to(&target)) else {
            return;
        };
        let discovery = settings.discovery_bind;
        self.shared
            .state()
            .refusals
            .retain(|(viewer, sender, _)| !(viewer == to && *sender == victim_id));
        self.send_from_harness(vec![frame], discovery).await;
        self.fault(Fault::RetiredKeyUsed {
            node: victim.to_owned(),
            to: to.to_owned(),
        });
    }

    /// `name`'s identity now: the key its identity file holds (a rotated one), in the
    /// epoch of its latest start. Identity files are read on their node's own disk.
    pub(super) async fn current_identity(&self, name: &str) -> NodeIdentity {
        let file = self.identity_file(name);
        let stored = self
            .live_handle(name)
            .spawn(async move { file.load_stored().await })
            .await;
        let secret = match stored {
            Ok(Ok(stored)) => stored.secret_key,
            _ => self.node(name).spec.secret_key,
        };
        NodeIdentity::of_node(self.node_id(name), secret, self.current_epoch(name))
    }

    /// A handle that spawns onto `name`'s current life (a handle taken before a
    /// restart spawns onto the killed one, where nothing runs).
    fn live_handle(&self, name: &str) -> madsim::runtime::NodeHandle {
        let id = self.node(name).handle.id();
        self.runtime.get_node(id).expect("a node of this run")
    }

    fn identity_file(&self, name: &str) -> IdentityFile {
        IdentityFile::in_dir(&self.node(name).spec.settings.data_dir)
    }
}

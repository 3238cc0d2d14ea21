//! `sys/health`: unauthenticated, as OpenBao 2.7.2 answers it for an unsealed active dev server
//! (hvac's `sys.read_health_status` reads it; a client may probe it before it has a token).

use serde_json::json;

use crate::openbao::OPENBAO_VERSION;
use crate::reply::Reply;
use crate::store::Store;

impl Store {
    /// 200 with the fields OpenBao sends (no `{"data":…}` envelope); the version is the
    /// OpenBao release whose API the double follows.
    pub(crate) fn health(&self) -> Reply {
        Reply {
            status: 200,
            body: Some(json!({
                "initialized": true,
                "sealed": false,
                "standby": false,
                "replication_performance_mode": "disabled",
                "replication_dr_mode": "disabled",
                "server_time_utc": self.now().as_secs(),
                "version": OPENBAO_VERSION,
                "cluster_name": "vault-cluster-devserver",
                "cluster_id": "00000000-0000-4000-8000-000000000000",
            })),
        }
    }
}

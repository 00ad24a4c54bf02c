//! Networks: one per scenario, so each host answers to its name and fresh hosts never reach
//! upgrade hosts.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptions;

use super::*;

impl Engine {
    /// Creates a bridge network `name` with `labels`; returns its id.
    pub async fn create_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|e| EngineError::op(format!("creating network {name}"), e))?;
        Ok(created.id)
    }

    /// Removes a network; one already gone is success, one still in use is an error.
    pub async fn remove_network(&self, network: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(network).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(EngineError::op(format!("removing network {network}"), e)),
        }
    }

    /// Networks carrying every `(label, value)` (an empty value: the label at all).
    pub async fn networks_with_labels(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<NetworkInfo>, EngineError> {
        let options = ListNetworksOptions {
            filters: Some(label_filter(labels)),
        };
        let networks = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| EngineError::op("listing networks", e))?;
        Ok(networks
            .into_iter()
            .filter_map(|n| {
                Some(NetworkInfo {
                    id: n.id?,
                    name: n.name.unwrap_or_default(),
                    labels: n.labels.unwrap_or_default(),
                })
            })
            .collect())
    }
}

/// A network as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
}

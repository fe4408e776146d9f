//! The OpenAPI 3.1 description of the HTTP API, committed as `docs/openapi.json` and served at
//! `GET /v1/openapi.json`. A test holds its paths and methods equal to the route table, so the
//! two cannot drift apart.

/// The document, as committed.
pub(crate) const DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every route is described, and every described route exists.
    #[test]
    fn document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let described: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = super::super::routes::table()
            .into_iter()
            .map(|(method, path, _)| (method.to_owned(), path.to_owned()))
            .collect();
        assert_eq!(described, routed);
    }
}

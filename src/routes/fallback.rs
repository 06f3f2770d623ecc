//! Answers for requests that match no route: 405 with `Allow` when the path exists
//! under another method, otherwise 404.
//!
//! actix-web's handler macros put the method guard on the resource, so a wrong method
//! falls through to the default service as if the path did not exist. The OpenAPI
//! document already lists every path with its methods, so it is the route table here.

use actix_router::ResourceDef;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// Every known path template with the methods it accepts.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl RouteTable {
    /// The documented routes plus the undocumented ones served beside them.
    pub fn new(spec: &OpenApi, extra: &[(&str, Method)]) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<Method>)> = Vec::new();
        let documented = spec.paths.paths.iter().flat_map(|(path, item)| {
            let operations = [
                (Method::GET, item.get.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::DELETE, item.delete.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::OPTIONS, item.options.is_some()),
                (Method::HEAD, item.head.is_some()),
            ];
            operations
                .into_iter()
                .filter(|(_, present)| *present)
                .map(move |(m, _)| (path.clone(), m))
        });
        let extra = extra
            .iter()
            .map(|(path, method)| ((*path).to_string(), method.clone()));
        for (path, method) in documented.chain(extra) {
            match routes
                .iter_mut()
                .find(|(def, _)| def.pattern() == Some(path.as_str()))
            {
                Some((_, methods)) => methods.push(method),
                None => routes.push((ResourceDef::new(path), vec![method])),
            }
        }
        Self { routes }
    }

    /// The methods accepted at `path`, if any route matches it. As in OpenAPI, a
    /// concrete path wins over templates: `/v1/signals/batch` is not `/v1/signals/{id}`.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let matching: Vec<&(ResourceDef, Vec<Method>)> = self
            .routes
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .collect();
        let concrete = |def: &ResourceDef| def.pattern().is_some_and(|p| !p.contains('{'));
        let any_concrete = matching.iter().any(|(def, _)| concrete(def));
        let mut allowed: Vec<Method> = matching
            .into_iter()
            .filter(|(def, _)| !any_concrete || concrete(def))
            .flat_map(|(_, m)| m.clone())
            .collect();
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        allowed.dedup();
        (!allowed.is_empty()).then_some(allowed)
    }
}

/// The application's default service.
pub async fn unmatched(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    Err(match table.allowed(req.path()) {
        // The method fits the path's template, but a route's guard refused the values
        // in it (an id that is no id): nothing there.
        Some(allowed) if allowed.contains(req.method()) => ApiError::NotFound,
        Some(allowed) => ApiError::MethodNotAllowed { allowed },
        None => ApiError::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::new(
            &crate::openapi::spec(),
            &[
                ("/v1/things/{id}", Method::GET),
                ("/v1/things/{id}", Method::DELETE),
            ],
        )
    }

    #[test]
    fn a_known_path_lists_its_methods() {
        assert_eq!(table().allowed("/health/live"), Some(vec![Method::GET]));
        assert_eq!(
            table().allowed("/v1/things/42"),
            Some(vec![Method::DELETE, Method::GET])
        );
    }

    #[test]
    fn a_concrete_path_wins_over_a_template() {
        assert_eq!(
            table().allowed("/v1/signals/batch"),
            Some(vec![Method::POST])
        );
        assert_eq!(
            table().allowed("/v1/signals/019a9c3e-5b2f-7c11-9d3e-2f6a1b7c8d90"),
            Some(vec![Method::DELETE])
        );
    }

    #[test]
    fn an_unknown_path_has_no_methods() {
        assert_eq!(table().allowed("/health/nope"), None);
        assert_eq!(table().allowed("/v1/things/42/more"), None);
    }
}

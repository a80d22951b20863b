//! The route table: every path the Worker answers, with its methods.
//!
//! One table so that dispatch, the 404/405 decision and (later) the OpenAPI
//! document are derived from the same list and cannot drift apart.

use std::sync::OnceLock;

use worker::Method;

/// What a request is asking for, once its path and method are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Readyz,
}

/// One row of the table.
#[derive(Debug)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub route: Route,
}

pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::Get,
        path: "/healthz",
        route: Route::Healthz,
    },
    RouteSpec {
        method: Method::Get,
        path: "/readyz",
        route: Route::Readyz,
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    Found(Route),
    /// The path exists but not with this method; lists the methods that do.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

fn table() -> &'static matchit::Router<Vec<(Method, Route)>> {
    static TABLE: OnceLock<matchit::Router<Vec<(Method, Route)>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut paths: Vec<(&'static str, Vec<(Method, Route)>)> = Vec::new();
        for spec in ROUTES {
            match paths.iter_mut().find(|(path, _)| *path == spec.path) {
                Some((_, methods)) => methods.push((spec.method.clone(), spec.route)),
                None => paths.push((spec.path, vec![(spec.method.clone(), spec.route)])),
            }
        }
        let mut router = matchit::Router::new();
        for (path, methods) in paths {
            // The table is a constant; a conflicting entry is a programming
            // error that the route tests catch before it ships.
            if let Err(err) = router.insert(path, methods) {
                worker::console_error!("route table conflict at {path}: {err}");
            }
        }
        router
    })
}

pub fn dispatch(method: &Method, path: &str) -> Dispatch {
    let Ok(matched) = table().at(path) else {
        return Dispatch::NotFound;
    };
    // HEAD is answered wherever GET is; the runtime drops the body.
    let wanted = if *method == Method::Head {
        &Method::Get
    } else {
        method
    };
    match matched.value.iter().find(|(m, _)| m == wanted) {
        Some((_, route)) => Dispatch::Found(*route),
        None => {
            Dispatch::MethodNotAllowed(matched.value.iter().map(|(m, _)| method_name(m)).collect())
        }
    }
}

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_dispatches_to_itself() {
        for spec in ROUTES {
            assert_eq!(
                dispatch(&spec.method, spec.path),
                Dispatch::Found(spec.route)
            );
        }
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(dispatch(&Method::Get, "/nope"), Dispatch::NotFound);
        assert_eq!(
            dispatch(&Method::Head, "/healthz"),
            Dispatch::Found(Route::Healthz)
        );
        assert_eq!(
            dispatch(&Method::Delete, "/healthz"),
            Dispatch::MethodNotAllowed(vec!["GET"])
        );
    }
}

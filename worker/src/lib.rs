//! Outpost's Cloudflare Worker.
//!
//! A thin shell: it extracts what a request says, asks `outpost-core` to decide,
//! moves bytes between HTTP, D1 and R2, and renders every failure as RFC 9457
//! problem+json. Errors never escape as panics or plain-text 500s: the fetch
//! handler turns anything unexpected into a generic problem and logs the cause.

mod health;
mod http;
mod routes;
mod scheduled;

use worker::{Context, Env, Request, Response, ScheduleContext, ScheduledEvent, event};

use crate::routes::{Dispatch, Route};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let method = req.method();
    let path = req.path();
    let result = match routes::dispatch(&method, &path) {
        Dispatch::Found(route) => handle(route, &req, &env).await,
        Dispatch::MethodNotAllowed(allowed) => http::problem(
            &outpost_core::Problem::method_not_allowed(method.as_ref(), &path, &allowed),
        ),
        Dispatch::NotFound => http::problem(&outpost_core::Problem::not_found_route(
            method.as_ref(),
            &path,
        )),
    };
    match result {
        Ok(response) => Ok(response),
        Err(err) => {
            worker::console_error!("{} {} failed: {}", method.as_ref(), path, err);
            http::problem(&outpost_core::Problem::internal())
        }
    }
}

async fn handle(route: Route, _req: &Request, env: &Env) -> worker::Result<Response> {
    match route {
        Route::Healthz => health::healthz(),
        Route::Readyz => health::readyz(env).await,
    }
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&event, &env).await;
}

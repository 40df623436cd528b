//! What the metrics listener answers, without the listener: a method and a
//! path in, an HTTP response out, as etcd 3.4's metrics mux answers them.
//!
//! | request | answer |
//! |---|---|
//! | any method `/metrics` | 200, the text format (`promhttp` serves every method) |
//! | `GET /health` | 200 or 503, see `health.rs` |
//! | other method `/health` | 405, `Allow: GET`, `Method Not Allowed` |
//! | anything else | 404, `404 page not found` (Go's `NotFound`) |
//!
//! Query strings are ignored, as Go's mux ignores them.

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Response, StatusCode};

use super::health::{self, Health, HealthSource};
use super::{Metrics, TEXT_CONTENT_TYPE};

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/metrics`.
    Metrics,
    /// `GET /health`.
    Health,
    /// `/health` with a method other than GET.
    HealthMethodNotAllowed,
    /// Any other path.
    NotFound,
}

/// The route of a request for `path` (without the query) by `method`.
pub fn route(method: &Method, path: &str) -> Route {
    match path {
        "/metrics" => Route::Metrics,
        "/health" if method == Method::GET => Route::Health,
        "/health" => Route::HealthMethodNotAllowed,
        _ => Route::NotFound,
    }
}

/// `/metrics`: every metric, or a 500 if they cannot be encoded.
pub fn metrics(metrics: &Metrics) -> Response<String> {
    match metrics.render() {
        Ok(text) => {
            let mut response = Response::new(text);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
            response
        }
        Err(error) => health::go_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("An error has occurred while serving metrics:\n\n{error}\n"),
        ),
    }
}

/// Go's answer to a path nobody serves.
pub fn not_found() -> Response<String> {
    health::go_error(StatusCode::NOT_FOUND, "404 page not found\n")
}

/// etcd's answer to `/health` by a method other than GET.
pub fn health_method_not_allowed() -> Response<String> {
    let mut response = health::go_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET"));
    response
}

/// The answer to a request for `path` by `method`. A health check asks
/// `source` for the verdict, counts it, and logs why when unhealthy (etcd
/// warns too).
pub async fn answer<S: HealthSource>(
    metrics_of: &Metrics,
    source: &S,
    method: &Method,
    path: &str,
) -> Response<String> {
    match route(method, path) {
        Route::Metrics => metrics(metrics_of),
        Route::Health => {
            let verdict = source.health().await;
            metrics_of.record_health(&verdict);
            if let Health::Unhealthy(reason) = &verdict {
                tracing::warn!(%reason, "/health error (status code 503)");
            }
            health::answer(&verdict)
        }
        Route::HealthMethodNotAllowed => health_method_not_allowed(),
        Route::NotFound => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::health::Unhealthy;

    struct Fixed(Health);

    impl HealthSource for Fixed {
        async fn health(&self) -> Health {
            self.0.clone()
        }
    }

    #[test]
    fn routes_are_etcds() {
        assert_eq!(route(&Method::GET, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::POST, "/metrics"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/health"), Route::Health);
        assert_eq!(
            route(&Method::POST, "/health"),
            Route::HealthMethodNotAllowed
        );
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/metrics/extra"), Route::NotFound);
    }

    #[test]
    fn method_not_allowed_names_get() {
        let response = health_method_not_allowed();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[ALLOW], "GET");
        assert_eq!(response.body(), "Method Not Allowed\n");
    }

    #[tokio::test]
    async fn health_answers_are_counted() {
        let metrics = Metrics::new(1);
        let healthy = answer(&metrics, &Fixed(Health::Healthy), &Method::GET, "/health").await;
        assert_eq!(healthy.status(), StatusCode::OK);
        let sick = Fixed(Health::Unhealthy(Unhealthy::NoLeader));
        let unhealthy = answer(&metrics, &sick, &Method::GET, "/health").await;
        assert_eq!(unhealthy.status(), StatusCode::SERVICE_UNAVAILABLE);
        let text = metrics.render().unwrap();
        assert!(text.contains("\netcd_server_health_success 1\n"), "{text}");
        assert!(text.contains("\netcd_server_health_failures 1\n"), "{text}");
    }

    #[tokio::test]
    async fn metrics_are_served_in_the_text_format() {
        let metrics = Metrics::new(1);
        let response = answer(&metrics, &Fixed(Health::Healthy), &Method::GET, "/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(response
            .body()
            .contains("# TYPE etcd_server_has_leader gauge\n"));
    }
}

//! Error answers in each service's own shape: the status, a type name and a message,
//! rendered as Keystone, Neutron, Nova/Cinder, Octavia, Heat or plain text would.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Which service's error shape to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `{"error": {"code", "title", "message"}}`.
    Keystone,
    /// `{"NeutronError": {"type", "message", "detail"}}`.
    Neutron,
    /// `{"itemNotFound": {"code", "message"}}` and friends (Nova, Cinder).
    Nova,
    /// `{"faultcode", "faultstring", "debuginfo"}`.
    Octavia,
    /// Plain text (Glance, Swift).
    Text,
    /// `{"code", "title", "explanation", "error": {"type", "message"}}`.
    Heat,
    /// `{"code", "title", "description"}` (Barbican's pecan answers).
    Barbican,
    /// `{"code", "type", "message", "request_id"}` (Designate).
    Designate,
}

/// An error answer: status, a type name and a message, shaped per service.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error type (`NetworkInUse`, `itemNotFound`, ...).
    pub kind: String,
    /// Human message.
    pub message: String,
    /// Body shape.
    pub style: Style,
    /// Extra headers (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `style`.
    pub fn new(
        style: Style,
        status: StatusCode,
        kind: &str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind: kind.to_string(),
            message: message.into(),
            style,
            retry_after: None,
        }
    }

    /// A Neutron error (`NeutronError` body).
    pub fn neutron(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(Style::Neutron, status, kind, message)
    }

    /// A Nova/Cinder error; the body key follows from the status.
    pub fn nova(status: StatusCode, message: impl Into<String>) -> ApiError {
        let kind = match status.as_u16() {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            409 => "conflictingRequest",
            413 | 429 => "overLimit",
            _ => "computeFault",
        };
        ApiError::new(Style::Nova, status, kind, message)
    }

    /// The same error in another service's shape (Nova relaying a Neutron refusal).
    pub fn restyle(mut self, style: Style) -> ApiError {
        if style == Style::Nova {
            let mut e = ApiError::nova(self.status, self.message);
            e.retry_after = self.retry_after;
            return e;
        }
        self.style = style;
        self
    }

    /// 401 as keystonemiddleware answers it.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            Style::Keystone,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The request you have made requires authentication.",
        )
    }

    /// A malformed request body.
    pub fn bad_body(style: Style, why: &str) -> ApiError {
        match style {
            Style::Neutron => ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", why),
            _ => ApiError::new(style, StatusCode::BAD_REQUEST, "badRequest", why),
        }
        .restyle(style)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = match self.style {
            Style::Keystone => {
                json!({"error": {"code": code, "title": title, "message": self.message}})
            }
            Style::Neutron => {
                json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}})
            }
            Style::Nova => json!({ self.kind.clone(): {"code": code, "message": self.message} }),
            Style::Octavia => json!({"faultcode": if code < 500 { "Client" } else { "Server" },
                "faultstring": self.message, "debuginfo": null}),
            Style::Designate => json!({"code": code, "type": self.kind, "message": self.message,
                "request_id": format!("req-{}", crate::store::new_id())}),
            Style::Barbican => {
                json!({"code": code, "title": title, "description": self.message})
            }
            Style::Heat => json!({"code": code, "title": title, "explanation": self.message,
                "error": {"type": self.kind, "message": self.message, "traceback": null}}),
            Style::Text => {
                let text = format!("{code} {title}\n\n{}\n\n", self.message);
                let mut resp = (self.status, text).into_response();
                add_retry_after(resp.headers_mut(), self.retry_after);
                return resp;
            }
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        add_retry_after(resp.headers_mut(), self.retry_after);
        resp
    }
}

fn add_retry_after(headers: &mut HeaderMap, secs: Option<u64>) {
    if let Some(secs) = secs {
        headers.insert("retry-after", HeaderValue::from(secs));
    }
}

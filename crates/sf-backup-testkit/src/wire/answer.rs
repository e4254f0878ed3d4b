//! An HTTP answer as plain data (status, content type, extra headers, body), so that the components model what
//! the service answers without knowing the HTTP server that sends it.

/// `application/json; charset=utf-8`, the content type of every JSON body the service labels as JSON.
pub(crate) const JSON: &str = "application/json; charset=utf-8";

/// One answer, before the server turns it into a response.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub content_type: Option<&'static str>,
    /// Headers besides `Content-Type`, e.g. `X-ServiceFabric: ResourceNotFound`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// `status` with a JSON body.
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        Answer {
            status,
            content_type: Some(JSON),
            headers: Vec::new(),
            body,
        }
    }

    /// `status` with an empty body and no content type (the 202 of a POST that starts work).
    pub(crate) fn empty(status: u16) -> Self {
        Answer {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// This answer with one more header.
    #[must_use]
    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

//! One leg's dialog state (RFC 3261 section 12), as handoff holds it on each side of a call.
//!
//! handoff is a UAS on leg A and a UAC on leg B; on both it keeps what it needs to send requests
//! inside the dialog itself: Call-ID, both tags, its own CSeq space, the remote target (from
//! Contact), the route set (from Record-Route) and the From/To header values as it must write them.

use std::net::SocketAddr;

pub use crate::vocab::Side;

/// Dialog state of one leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    /// `None` until the far end answered with a tag (leg B before its first response).
    pub remote_tag: Option<String>,
    /// The From header value handoff writes on requests it sends (includes `;tag=local_tag`).
    pub local_party: String,
    /// The To header value handoff writes on requests it sends (includes the remote tag once known).
    pub remote_party: String,
    /// Last CSeq handoff used on this leg.
    pub local_cseq: u32,
    /// Highest CSeq seen from the far end (in-dialog requests must not go backwards).
    pub remote_cseq: Option<u32>,
    /// Request-URI of requests handoff sends (the far end's Contact).
    pub remote_target: String,
    /// Route header values, in the order they go on requests.
    pub route_set: Vec<String>,
    /// Where this leg's requests are sent: the trunk's peer address.
    pub peer: SocketAddr,
}

impl Dialog {
    /// The next CSeq number for a request handoff originates on this leg.
    pub fn next_cseq(&mut self) -> u32 {
        self.local_cseq = self.local_cseq.wrapping_add(1);
        self.local_cseq
    }

    /// Accept a request's CSeq from the far end. `false` when it goes backwards (RFC 3261 12.2.2:
    /// answer 500). ACK and CANCEL reuse their INVITE's number and are not checked.
    pub fn accept_remote_cseq(&mut self, cseq: u32) -> bool {
        match self.remote_cseq {
            Some(last) if cseq < last => false,
            _ => {
                self.remote_cseq = Some(cseq);
                true
            }
        }
    }

    /// Learn the far end's tag and the To value carrying it (leg B, first response with a tag).
    pub fn set_remote_tag(&mut self, tag: &str, to_value: &str) {
        if self.remote_tag.is_none() {
            self.remote_tag = Some(tag.to_string());
            self.remote_party = to_value.to_string();
        }
    }

    /// A target refresh (2xx to INVITE/UPDATE, re-INVITE) moved the far end's Contact.
    pub fn set_remote_target(&mut self, uri: &str) {
        if !uri.is_empty() {
            self.remote_target = uri.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog() -> Dialog {
        Dialog {
            call_id: "c".into(),
            local_tag: "l".into(),
            remote_tag: None,
            local_party: "<sip:a@h>;tag=l".into(),
            remote_party: "<sip:b@h>".into(),
            local_cseq: 0,
            remote_cseq: None,
            remote_target: "sip:b@h".into(),
            route_set: vec![],
            peer: "127.0.0.1:5060".parse().unwrap(),
        }
    }

    #[test]
    fn cseq_counts_up_and_rejects_going_back() {
        let mut d = dialog();
        assert_eq!(d.next_cseq(), 1);
        assert_eq!(d.next_cseq(), 2);
        assert!(d.accept_remote_cseq(5));
        assert!(d.accept_remote_cseq(5));
        assert!(!d.accept_remote_cseq(4));
        assert!(d.accept_remote_cseq(9));
    }

    #[test]
    fn remote_tag_is_learned_once() {
        let mut d = dialog();
        d.set_remote_tag("x", "<sip:b@h>;tag=x");
        d.set_remote_tag("y", "<sip:b@h>;tag=y");
        assert_eq!(d.remote_tag.as_deref(), Some("x"));
        assert_eq!(d.remote_party, "<sip:b@h>;tag=x");
    }
}

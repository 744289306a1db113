//! E.164 normalisation (skeleton)

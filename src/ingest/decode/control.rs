//! Control messages: a collar's status (online, or its Last Will) and its answers to commands.

use super::fields::*;
use super::{CmdAck, Object, Rejection, Status, ACK_ERROR_CHARS, ACK_ID_CHARS, FW_CHARS};

pub(super) fn status(object: &Object) -> Result<Status, Rejection> {
    Ok(Status {
        online: required("online", boolean(object, "online")?)?,
        fw: text(object, "fw", FW_CHARS)?.map(str::to_owned),
    })
}

pub(super) fn cmd_ack(object: &Object) -> Result<CmdAck, Rejection> {
    Ok(CmdAck {
        id: required("id", text(object, "id", ACK_ID_CHARS)?)?.to_owned(),
        ok: required("ok", boolean(object, "ok")?)?,
        error: shown_text(object, "error")?.map(|e| {
            e.chars()
                .take(ACK_ERROR_CHARS)
                .map(|c| {
                    if c == '\0' {
                        char::REPLACEMENT_CHARACTER
                    } else {
                        c
                    }
                })
                .collect()
        }),
    })
}

// ---- fields ----

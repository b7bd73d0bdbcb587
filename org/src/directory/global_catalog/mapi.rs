//! A mailbox's MAPI access (protocolSettings) and its Outlook mode.

/// How an Outlook client works with its mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum OutlookMode {
    /// Cached Exchange Mode: Outlook 2003 works from a local copy (its default for new
    /// profiles on Exchange 2003 [P]).
    #[default]
    Cached,
    /// Online: every operation goes to the server.
    Online,
}

/// Which MAPI clients may open a mailbox, from the user's `protocolSettings` (§2,
/// Exchange 2003 SP2). It is not applied to server tasks (mailbox moves) nor to
/// delegate access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum MapiAccess {
    /// No MAPI string: every MAPI client.
    #[default]
    Any,
    /// `MAPI§1§1§…`: Outlook in Cached Exchange Mode only.
    CachedModeOnly,
    /// `MAPI§0§…`: no MAPI client at all.
    Blocked,
}

impl MapiAccess {
    /// Parses the `protocolSettings` MAPI string `MAPI§<b1>§<b2>§§§§§§`: exactly 8
    /// separators (9 fields), `b1` 0 (block all MAPI) or 1 (defer to `b2`), `b2` 0, 1
    /// (deny clients not in cached mode) or empty, the last six fields empty. Exchange's
    /// behaviour on any other string is undefined, so orgsim refuses it (§2).
    pub fn parse(text: &str) -> Result<MapiAccess, String> {
        let fields: Vec<&str> = text.split('§').collect();
        if fields.len() != 9 {
            return Err(format!(
                "expected exactly 8 '§' separators (9 fields, like \"MAPI§1§1§§§§§§\"), found {}",
                fields.len() - 1
            ));
        }
        if fields[0] != "MAPI" {
            return Err(format!("expected the first field to be \"MAPI\", found {:?}", fields[0]));
        }
        if let Some((i, f)) = fields.iter().enumerate().skip(3).find(|(_, f)| !f.is_empty()) {
            return Err(format!("expected fields 4 to 9 to be empty, found {f:?} in field {}", i + 1));
        }
        let b2 = match fields[2] {
            "" | "0" => false,
            "1" => true,
            other => {
                return Err(format!("expected the third field (cached mode only) to be 0, 1 or empty, found {other:?}"))
            }
        };
        match fields[1] {
            "0" => Ok(MapiAccess::Blocked),
            "1" if b2 => Ok(MapiAccess::CachedModeOnly),
            "1" => Ok(MapiAccess::Any),
            other => Err(format!("expected the second field (MAPI enabled) to be 0 or 1, found {other:?}")),
        }
    }

    /// Whether a client in `mode` may log on.
    pub fn admits(self, mode: OutlookMode) -> bool {
        match self {
            MapiAccess::Any => true,
            MapiAccess::CachedModeOnly => mode == OutlookMode::Cached,
            MapiAccess::Blocked => false,
        }
    }
}

//! `token`: the sign-in link again, as `serve` printed it at start.

use crate::connect::ConnectArgs;
use crate::error::{Error, Result};
use crate::output;

/// Arguments of `token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Print JSON: `url`, `link`, `token`, and the key's `name` and `role`.
    #[arg(long)]
    json: bool,
}

/// `token`: checks the token with the server, then prints `Open <url>/#token=<token>` (or JSON).
pub(crate) async fn token(args: TokenArgs) -> Result<()> {
    let client = args.connect.client()?;
    let Some(token) = client.token() else {
        return Err(Error::Usage(
            "no token found: pass --token, set OLLAMA_DASH_TOKEN, or point --data-path at the \
             server's DATA_PATH"
                .to_owned(),
        ));
    };
    let verified = client.verify().await?;
    let link = format!("{}/#token={token}", client.base());
    if args.json {
        return output::json(&serde_json::json!({
            "url": client.base(),
            "link": link,
            "token": token,
            "name": verified.get("name"),
            "role": verified.get("role"),
        }));
    }
    output::line(&format!("Open {link}"))
}

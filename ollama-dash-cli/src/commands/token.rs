//! `token`: the sign-in link again, as `serve` printed it at start.

use crate::connect::ConnectArgs;
use crate::error::{Error, Result};
use crate::output;

/// Arguments of `token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    connect: ConnectArgs,
}

/// `token`: checks the token with the server, then prints `Open <url>/#token=<token>`.
pub(crate) async fn token(args: TokenArgs) -> Result<()> {
    let client = args.connect.client()?;
    let Some(token) = client.token() else {
        return Err(Error::Usage(
            "no token found: pass --token, set OLLAMA_DASH_TOKEN, or point --data-path at the \
             server's DATA_PATH"
                .to_owned(),
        ));
    };
    client.verify().await?;
    output::line(&format!("Open {}/#token={token}", client.base()))
}

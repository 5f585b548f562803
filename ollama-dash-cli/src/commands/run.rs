//! `run MODEL [PROMPT]`: one streamed answer, or a multi-turn chat reading stdin lines
//! (`/bye` or end of input ends it, `/clear` forgets the conversation), over the server's
//! OpenAI route `/v1/chat/completions` with `stream: true` (every turn is traced).

use std::io::{BufRead, IsTerminal};

use serde_json::Value;

use crate::api::Message;
use crate::client::Client;
use crate::connect::ConnectArgs;
use crate::error::{Error, Result};
use crate::output;

/// Arguments of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// The model, e.g. llama3.2:1b.
    model: String,
    /// The node that answers (the server routes each turn when not given).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// Print each answer as one JSON line (`model`, `message`: `role`, `content`) once it is
    /// whole, instead of streaming its text; nothing else goes to stdout.
    #[arg(long)]
    json: bool,
    /// The prompt; without one, a chat reads lines from stdin.
    #[arg(trailing_var_arg = true)]
    prompt: Vec<String>,
}

/// `run`.
pub(crate) async fn run(args: RunArgs) -> Result<()> {
    let client = args.connect.client()?;
    if !args.prompt.is_empty() {
        let messages = [Message {
            role: "user".to_owned(),
            content: args.prompt.join(" "),
        }];
        answer(&client, &args, &messages).await?;
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal() && !args.json;
    if interactive {
        output::note("Send a message (/bye to leave, /clear to start over)");
    }
    let mut messages: Vec<Message> = Vec::new();
    loop {
        if interactive {
            output::print(">>> ")?;
        }
        let Some(line) = read_line().await? else {
            break;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/bye" => break,
            "/clear" => {
                messages.clear();
                output::note("Cleared the conversation");
                continue;
            }
            _ => {}
        }
        messages.push(Message {
            role: "user".to_owned(),
            content: line.to_owned(),
        });
        match answer(&client, &args, &messages).await {
            Ok(reply) => messages.push(Message {
                role: "assistant".to_owned(),
                content: reply,
            }),
            // A failed turn is said and forgotten; the chat goes on (as `ollama run`).
            Err(e @ (Error::Api { .. } | Error::Failed(_))) if interactive => {
                messages.pop();
                output::note(&format!("Error: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One line of stdin, read off the async threads; `None` at the end of input.
async fn read_line() -> Result<Option<String>> {
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|n| (n > 0).then_some(line))
    });
    read.await
        .map_err(|e| Error::Protocol(format!("reading stdin: {e}")))?
        .map_err(|e| Error::io("reading stdin", e))
}

/// Streams the answer to `messages` to stdout (or, with `json`, prints it whole as one JSON
/// line at the end); the whole answer.
async fn answer(client: &Client, args: &RunArgs, messages: &[Message]) -> Result<String> {
    let (model, json) = (args.model.as_str(), args.json);
    let mut stream = client
        .chat_stream(model, messages, args.node.as_deref())
        .await?;
    let mut reply = String::new();
    while let Some(event) = stream.next().await? {
        if event.data == "[DONE]" {
            break;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        if let Some(error) = chunk.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            if !json {
                output::line("")?;
            }
            return Err(Error::Failed(message));
        }
        if let Some(delta) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
        {
            if !json {
                output::print(delta)?;
            }
            reply.push_str(delta);
        }
    }
    if json {
        output::json_line(&serde_json::json!({
            "model": model,
            "message": {"role": "assistant", "content": reply},
        }))?;
    } else {
        output::line("")?;
    }
    Ok(reply)
}

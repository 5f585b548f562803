//! Fuzzes the GGUF header reader: any bytes must give a header or an error, never a panic, a
//! hang or a huge allocation; and whatever parses must answer every accessor.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ollama_dash_gguf::{Limits, read_header};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(header) = read_header(data, data.len() as u64, &limits) {
        let _ = (header.kind(), header.quantization(), header.parameter_size());
        let _ = (header.context_length(), header.has_chat_template(), header.model_info());
    }
});

const VERSION: &str = "1.0.0";
include!("../../echo.rs");

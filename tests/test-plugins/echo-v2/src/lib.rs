const VERSION: &str = "2.0.0";
include!("../../echo.rs");

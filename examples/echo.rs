//! The smallest server: `ws::listen` with the echo handler on every path, every dialect.
//!
//! ```sh
//! cargo run --example echo -- 8092
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let port: u16 = std::env::args().nth(1).map_or(Ok(8092), |p| p.parse())?;
    ws::listen(port, ws::Echo)?;
    Ok(())
}

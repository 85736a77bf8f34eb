//! The `fruxon` binary: parses the command line and hands over to the library.

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    std::process::exit(fruxon::cli::run(std::env::args().skip(1).collect()));
}

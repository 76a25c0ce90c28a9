use std::process::ExitCode;

fn main() -> ExitCode {
    appreg::cli::main()
}

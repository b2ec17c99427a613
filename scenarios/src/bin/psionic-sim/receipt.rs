//! Writing the D1 and D2 receipts asked for with `--receipts DIR`.

use std::path::Path;
use std::process::ExitCode;

use psionic_core::receipt::BenchmarkReceipt;
use psionic_scenarios::receipts::ReceiptRefusal;

/// Writes `receipt` into `dir`; a refusal or a write error exits with 2.
pub fn write(dir: &Path, receipt: Result<BenchmarkReceipt, ReceiptRefusal>) -> ExitCode {
    let receipt = match receipt {
        Ok(receipt) => receipt,
        Err(refusal) => {
            eprintln!("no receipt: {refusal}");
            return ExitCode::from(2);
        }
    };
    match psionic_net::receipt::write(dir, &receipt) {
        Ok(path) => {
            println!("receipt   {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write the receipt into {}: {error}", dir.display());
            ExitCode::from(2)
        }
    }
}

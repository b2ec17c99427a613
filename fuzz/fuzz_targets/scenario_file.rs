//! Arbitrary text into the scenario-file parser: a scenario or an error naming a line.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| psionic_scenarios::fuzz_scenario_file(bytes));

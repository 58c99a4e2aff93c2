//! Writes the report of the example week to standard output (the picture in the README is this page, taken with
//! `chromium --headless --screenshot`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let week = report::ReportInput { name: "Ana".into(), ..report::sample::week() };
    print!("{}", report::render(&week)?);
    Ok(())
}

//! The README's sessions, run for real: every `$ command` in its code blocks is run in one
//! bash session (in order, starting in an empty `$HOME`, with this build's `settee` first on
//! `PATH`), and what it prints must be what the README shows under it.
//!
//! Lines of a block after a `$ ` line are its output (stdout and stderr together); a line
//! ending in `\` goes on to the next; `# ` lines are comments. Before comparing, the
//! temporary home's path is taken out of the output (the README's home is `/home/me`),
//! compaction times read `0.00 s` and HTTP dates read `<date>`. Blocks without a `$ ` line
//! (layouts, install commands) are not run.

use std::path::Path;
use std::process::Command;

use crate::text_diff;

/// One command and the output the README shows for it.
struct Step {
    command: String,
    expected: String,
}

fn steps(readme: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    let mut continuing = false;
    // Whether the current block has had a command yet: output belongs to its own block.
    let mut block_has_command = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
            continuing = false;
            block_has_command = false;
            continue;
        }
        if !in_block {
            continue;
        }
        if continuing {
            let step = steps.last_mut().expect("a continued command");
            step.command.push('\n');
            step.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            steps.push(Step { command: command.to_string(), expected: String::new() });
            continuing = command.ends_with('\\');
            block_has_command = true;
        } else if line.starts_with("# ") || !block_has_command {
            continue;
        } else if let Some(step) = steps.last_mut() {
            if !line.is_empty() {
                step.expected.push_str(line);
                step.expected.push('\n');
            }
        }
    }
    steps
}

/// Output as the README shows it: the home's path as `/home/me`, times and dates fixed.
fn normalise(text: &str, home: &Path) -> String {
    let text = text.replace(&home.display().to_string(), "/home/me");
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        // `(…; 0.01 s)` from compact
        if let Some(at) = line.rfind("; ") {
            let tail = &line[at + 2..];
            if tail.ends_with(" s)") && tail[..tail.len() - 3].parse::<f64>().is_ok() {
                line = format!("{}; 0.00 s)", &line[..at]);
            }
        }
        // an HTTP date: `Wed, 02 Dec 2026 12:00:00 GMT` is 29 characters
        if let Some(end) = line.find(" GMT") {
            let start = (end + 4).saturating_sub(29);
            if line.is_char_boundary(start) && line[start..].chars().nth(3) == Some(',') {
                line = format!("{}<date>{}", &line[..start], &line[end + 4..]);
            }
        }
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_readme_sessions_print_what_the_readme_shows() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
        .expect("README.md");
    let steps = steps(&readme);
    assert!(steps.len() > 20, "the README's sessions were found: {}", steps.len());
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home").join("me");
    std::fs::create_dir_all(&home).expect("home");
    let bin = Path::new(env!("CARGO_BIN_EXE_settee")).parent().expect("bin dir").to_path_buf();
    // `$?` is carried over the markers, so that `echo $?` shows the command before it.
    let mut script = String::from("set +e\nstatus=0\n");
    for (i, step) in steps.iter().enumerate() {
        script
            .push_str(&format!("echo '@@@ {i}'\n(exit $status)\n{{ {}\n}} 2>&1\nstatus=$?\n", step.command));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&home)
        .env("HOME", &home)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env_remove("SETTEE_DIR")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut outputs: Vec<&str> = stdout.split("@@@ ").skip(1).collect();
    assert_eq!(outputs.len(), steps.len(), "every command ran: {stdout}");
    for (i, (step, output)) in steps.iter().zip(outputs.iter_mut()).enumerate() {
        let got = output.strip_prefix(&format!("{i}\n")).expect("marker");
        let (got, expected) = (normalise(got, &home), normalise(&step.expected, &home));
        if got != expected {
            panic!(
                "README command `{}` printed something else:\n{}",
                step.command,
                text_diff(&expected, &got)
            );
        }
    }
}

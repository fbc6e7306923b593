//! Running the real `redress` binary in tests: a configuration from the shipped example on a
//! free port, start and wait for the listener, stop with SIGTERM (must exit 0 within 10 s),
//! kill with SIGKILL, and run command-line calls against the same configuration.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// A running `redress run`, killed if the test ends without stopping it.
pub struct Daemon {
    pub child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port for the daemon's API.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the shipped example configuration into `dir`, on its own port.
pub fn configure(dir: &Path) -> (PathBuf, u16) {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/redress.example.toml"))
            .unwrap();
    let port = free_port();
    let text = example.replace(
        "listen = \"127.0.0.1:8080\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    assert_ne!(text, example, "the example's listen address moved");
    let config = dir.join("redress.toml");
    std::fs::write(&config, text).unwrap();
    (config, port)
}

/// Starts the daemon without waiting for it.
pub fn spawn(config: &Path) -> Daemon {
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env_remove("REDRESS_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Daemon { child }
}

/// Starts the daemon with its log (plain text, no colours) written to `log`, and waits until
/// its HTTP listener is up.
pub fn start_logging(config: &Path, port: u16, log: &Path) -> Daemon {
    let file = std::fs::File::create(log).unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .env_remove("REDRESS_CONFIG")
        .env_remove("JOURNAL_STREAM")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    wait_listening(Daemon { child }, port)
}

/// Sends SIGHUP (reload the classification rules).
pub fn hangup(d: &Daemon) {
    unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) };
}

/// Starts the daemon and waits until its HTTP listener is up (it binds after opening the
/// store, so from then on the CLI goes through the daemon).
pub fn start(config: &Path, port: u16) -> Daemon {
    wait_listening(spawn(config), port)
}

fn wait_listening(mut d: Daemon, port: u16) -> Daemon {
    let begun = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            begun.elapsed() < Duration::from_secs(20),
            "the daemon never listened on {port}"
        );
        if let Some(status) = d.child.try_wait().unwrap() {
            panic!("the daemon exited at start-up: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

/// Sends SIGTERM and checks the daemon exits 0 within 10 s.
pub fn stop(mut d: Daemon) {
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(10),
            "the daemon did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the daemon exited with {status}");
}

/// SIGKILL: no chance to finish the message in hand or flush anything.
pub fn kill_9(mut d: Daemon) {
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon exited by itself before it was killed"
    );
    unsafe { libc::kill(d.child.id() as i32, libc::SIGKILL) };
    let status = d.child.wait().unwrap();
    assert!(!status.success());
}

/// Runs `redress ARGS --config CONFIG`.
pub fn redress(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("REDRESS_CONFIG")
        .output()
        .unwrap()
}

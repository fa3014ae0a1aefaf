//! The bench's own Mosquitto on a free loopback port, configured for QoS 1 throughput;
//! restarted between phases, killed when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use uuid::Uuid;

const BROKER_START: Duration = Duration::from_secs(10);

/// A Mosquitto of the bench's own, on a free loopback port; killed when dropped.
pub(crate) struct Broker {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
}

impl Broker {
    pub(crate) fn start() -> anyhow::Result<Broker> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("pettysync-bench-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        // max_inflight_messages: the default 20 lets the broker send the server only 20 QoS 1
        // messages per acknowledgement round trip; the server acknowledges after its MongoDB
        // write, so the window bounds its batches. (Mosquitto 2.0.11 holds a client that never
        // acknowledges to it, but one that acknowledges in bursts gets many more: then the
        // server's persistence buffer bounds what is unacknowledged.) max_queued_messages: the
        // default 1000 drops messages while a subscriber is behind. set_tcp_nodelay: no Nagle
        // delay on small frames.
        std::fs::write(
            dir.join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\n\
                 max_queued_messages 1000000\npersistence false\nset_tcp_nodelay true\n"
            ),
        )?;
        let child = Self::spawn(&dir)?;
        let mut broker = Broker { child, dir, port };
        broker.wait_listening()?;
        Ok(broker)
    }

    pub(crate) fn spawn(dir: &std::path::Path) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("mosquitto.log"))?;
        Command::new(mosquitto_binary())
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting mosquitto (scripts/services.sh up installs it)")
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + BROKER_START;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log =
                    std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
                bail!("mosquitto exited with {status}: {log}");
            }
            if Instant::now() >= deadline {
                bail!(
                    "mosquitto did not listen on port {} within {BROKER_START:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the broker by a new one on the same port: no sessions, nothing in flight.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.dir)?;
        self.wait_listening()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/mosquitto"))
}

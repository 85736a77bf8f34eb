//! A real SMTP server on loopback that keeps what it receives: enough of RFC 5321 for a real
//! client (lettre) to hold a whole conversation with it. It can be stopped and started again
//! on the same port, to play a mail server that is down.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One message as received: envelope and data.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }
}

pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    running: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Starts on a free port.
    pub fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink {
            port,
            mails: Arc::new(Mutex::new(Vec::new())),
            running: Arc::new(AtomicBool::new(true)),
        };
        sink.serve(listener);
        sink
    }

    /// A free port with nothing listening on it (yet).
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Starts on a given port, keeping no mail from before.
    pub fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let sink = SmtpSink {
            port,
            mails: Arc::new(Mutex::new(Vec::new())),
            running: Arc::new(AtomicBool::new(true)),
        };
        sink.serve(listener);
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `n` mails arrived, or panics after `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} mails, got {}: {mails:?}",
                mails.len()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn serve(&self, listener: TcpListener) {
        let (mails, running) = (self.mails.clone(), self.running.clone());
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let mails = mails.clone();
                        thread::spawn(move || converse(stream, &mails));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        // Let the accept loop notice and release the port before anyone rebinds it.
        thread::sleep(Duration::from_millis(50));
    }
}

fn converse(stream: TcpStream, mails: &Mutex<Vec<Mail>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut reply = |line: &str| out.write_all(format!("{line}\r\n").as_bytes());
    let _ = reply("220 sink ESMTP ready");

    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250 sink"
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_string();
            to.clear();
            "250 OK"
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_string());
            "250 OK"
        } else if upper == "DATA" {
            let _ = reply("354 end with <CRLF>.<CRLF>");
            let mut data = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            let mail = Mail {
                from: from.clone(),
                to: to.clone(),
                data,
            };
            mails.lock().unwrap().push(mail);
            "250 OK queued"
        } else if upper == "QUIT" {
            let _ = reply("221 bye");
            return;
        } else {
            "250 OK"
        };
        if reply(answer).is_err() {
            return;
        }
    }
}

//! Delivers the notification outbox over SMTP, retrying with backoff while the server is down,
//! across restarts (the outbox is in the database, so a restart just picks up where it was).

use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{Message, SmtpTransport, Transport};

use crate::config::Settings;
use crate::domain::time::Clock;
use crate::storage::notifications::{self, NotificationRow};
use crate::storage::{Store, StoreError};

/// How often the outbox is checked for due notifications.
const POLL: Duration = Duration::from_millis(500);
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 120_000;
/// After this long undelivered, a notification is marked failed and no longer retried.
const GIVE_UP_MS: i64 = 2 * 86_400_000;

/// The SMTP side: where to send and as whom.
pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
}

/// Checks the mail settings at start-up, so that a typo fails loudly then rather than at the
/// first notification. `None` when no SMTP server is configured.
pub fn configure(settings: &Settings) -> Result<Option<Smtp>, String> {
    let Some(url) = &settings.smtp_url else {
        return Ok(None);
    };
    let from: Mailbox = settings.mail_from.parse().map_err(|e| {
        format!(
            "FRUXON_MAIL_FROM '{}' is not an address: {e}",
            settings.mail_from
        )
    })?;
    let transport = SmtpTransport::from_url(url)
        .map_err(|e| {
            format!(
                "FRUXON_SMTP_URL {} is not usable: {e}",
                settings.smtp_display()
            )
        })?
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    Ok(Some(Smtp { transport, from }))
}

/// The wait before attempt `attempts + 1`: 2 s, 4 s, 8 s ... up to two minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    (1000_i64 << attempts.clamp(1, 20)).min(MAX_BACKOFF_MS)
}

/// Starts the delivery thread; it stops once `alive` is gone.
pub fn start(store: Store, smtp: Option<Smtp>, clock: Arc<dyn Clock>, alive: Weak<()>) {
    let spawned = thread::Builder::new()
        .name("fruxon-mailer".to_string())
        .spawn(move || {
            while alive.upgrade().is_some() {
                if let Err(e) = deliver_due(&store, smtp.as_ref(), clock.as_ref()) {
                    log::error!("the notification outbox could not be read: {e}");
                }
                thread::sleep(POLL);
            }
        });
    if let Err(e) = spawned {
        log::error!("the mailer thread could not start ({e}); notifications stay pending");
    }
}

fn deliver_due(store: &Store, smtp: Option<&Smtp>, clock: &dyn Clock) -> Result<(), StoreError> {
    let now = clock.now_ms();
    let due = store.read_inline(|c| notifications::due(c, now, 20))?;
    for n in due {
        deliver(store, smtp, &n, clock.now_ms())?;
    }
    Ok(())
}

fn deliver(
    store: &Store,
    smtp: Option<&Smtp>,
    n: &NotificationRow,
    now: i64,
) -> Result<(), StoreError> {
    let id = n.id;
    let unconfigured = match smtp {
        None => Some("no SMTP server is configured (FRUXON_SMTP_URL)"),
        Some(_) if n.recipients.is_empty() => Some("the tenant has no admin e-mail addresses"),
        Some(_) => None,
    };
    if let Some(why) = unconfigured {
        log::warn!(
            "notification {id} for tenant {} kept undelivered: {why}",
            n.tenant_id
        );
        return store.write_blocking(move |c| notifications::mark_unconfigured(c, id, why));
    }
    let smtp = smtp.expect("checked above");

    let outcome = message(smtp, n).and_then(|m| {
        smtp.transport
            .send(&m)
            .map(|_| ())
            .map_err(|e| Attempt::Retry(e.to_string()))
    });
    let (status, error, next) = match outcome {
        Ok(()) => {
            log::info!(
                "notification {id} sent to {} recipients",
                n.recipients.len()
            );
            ("sent", None, now)
        }
        Err(Attempt::Give(why)) => {
            log::error!("notification {id} cannot be sent: {why}");
            ("failed", Some(why), now)
        }
        Err(Attempt::Retry(why)) if now - n.created_at >= GIVE_UP_MS => {
            log::error!(
                "notification {id} given up after {} attempts: {why}",
                n.attempts + 1
            );
            ("failed", Some(why), now)
        }
        Err(Attempt::Retry(why)) => {
            let wait = backoff_ms(n.attempts + 1);
            log::warn!(
                "notification {id} not delivered ({why}); retrying in {} s",
                wait / 1000
            );
            ("pending", Some(why), now + wait)
        }
    };
    store.write_blocking(move |c| {
        notifications::record_attempt(c, id, status, error.as_deref(), next, now)
    })
}

/// Why an attempt failed: worth retrying (the server) or not (the message itself).
enum Attempt {
    Retry(String),
    Give(String),
}

fn message(smtp: &Smtp, n: &NotificationRow) -> Result<Message, Attempt> {
    let mut builder = Message::builder()
        .from(smtp.from.clone())
        .subject(n.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for recipient in &n.recipients {
        let to: Mailbox = recipient.parse().map_err(|e| {
            Attempt::Give(format!("recipient '{recipient}' is not an address: {e}"))
        })?;
        builder = builder.to(to);
    }
    builder
        .body(n.body.clone())
        .map_err(|e| Attempt::Give(e.to_string()))
}

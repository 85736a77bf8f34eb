//! Delivers the notification outbox over SMTP, retrying with backoff while the server is down,
//! across restarts (the outbox is in the database, so a restart just picks up where it was).

use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{Message, SmtpTransport, Transport};
use sha2::Sha256;

use crate::config::Settings;
use crate::domain::ids::hex;
use crate::domain::time::Clock;
use crate::storage::notifications::{self, NotificationRow};
use crate::storage::{Store, StoreError, tenants};

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

/// Starts the delivery thread; it stops once `alive` is gone. The thread runs its own small
/// async runtime for the webhook client; SMTP sends block it, which is all it does.
pub fn start(store: Store, smtp: Option<Smtp>, clock: Arc<dyn Clock>, alive: Weak<()>) {
    let spawned = thread::Builder::new()
        .name("fruxon-mailer".to_string())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let client = awc::Client::builder()
                    .disable_redirects()
                    .timeout(SMTP_TIMEOUT)
                    .finish();
                let outbox = Outbox {
                    store,
                    smtp,
                    client,
                };
                while alive.upgrade().is_some() {
                    if let Err(e) = outbox.deliver_due(clock.as_ref()).await {
                        log::error!("the notification outbox could not be read: {e}");
                    }
                    actix_web::rt::time::sleep(POLL).await;
                }
            })
        });
    if let Err(e) = spawned {
        log::error!("the mailer thread could not start ({e}); notifications stay pending");
    }
}

/// What delivery needs: the database, the SMTP server and an HTTP client for webhooks.
struct Outbox {
    store: Store,
    smtp: Option<Smtp>,
    client: awc::Client,
}

/// Why an attempt failed: worth retrying (the server), not (the message itself), or not
/// attempted at all (nothing to send it with).
enum Attempt {
    Retry(String),
    Give(String),
    Unconfigured(&'static str),
}

impl Outbox {
    async fn deliver_due(&self, clock: &dyn Clock) -> Result<(), StoreError> {
        let now = clock.now_ms();
        let due = self.store.read_inline(|c| notifications::due(c, now, 20))?;
        for n in due {
            let outcome = match n.channel.as_str() {
                "webhook" => self.post_webhook(&n).await,
                _ => self.send_mail(&n),
            };
            self.record(&n, outcome, clock.now_ms()).await?;
        }
        Ok(())
    }

    fn send_mail(&self, n: &NotificationRow) -> Result<(), Attempt> {
        let Some(smtp) = &self.smtp else {
            return Err(Attempt::Unconfigured(
                "no SMTP server is configured (FRUXON_SMTP_URL)",
            ));
        };
        if n.recipients.is_empty() {
            return Err(Attempt::Unconfigured(
                "the tenant has no admin e-mail addresses",
            ));
        }
        let message = message(smtp, n)?;
        smtp.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| Attempt::Retry(e.to_string()))
    }

    async fn post_webhook(&self, n: &NotificationRow) -> Result<(), Attempt> {
        let tenant = n.tenant_id.clone();
        let config = self
            .store
            .read_inline(|c| tenants::alert_config(c, &tenant))
            .map_err(|e| Attempt::Retry(e.to_string()))?;
        // Retried, not set aside: the URL is set, and the alert goes out as soon as an admin
        // creates the secret that signs it.
        let Some(secret) = config.webhook_secret else {
            return Err(Attempt::Retry(
                "the tenant has no webhook signing secret yet; \
                 POST settings:rotateWebhookSecret creates one"
                    .to_string(),
            ));
        };
        let url = n.target.clone().unwrap_or_default();
        let response = self
            .client
            .post(&url)
            .insert_header(("Content-Type", "application/json"))
            .insert_header((SIGNATURE_HEADER, signature(&secret, n.body.as_bytes())))
            .send_body(n.body.clone())
            .await
            .map_err(|e| Attempt::Retry(format!("the webhook is unreachable: {e}")))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(Attempt::Retry(format!(
                "the webhook answered HTTP {}",
                status.as_u16()
            ))),
        }
    }

    /// Writes down how an attempt went, and when to try again.
    async fn record(
        &self,
        n: &NotificationRow,
        outcome: Result<(), Attempt>,
        now: i64,
    ) -> Result<(), StoreError> {
        let id = n.id;
        let (status, error, next) = match outcome {
            Ok(()) => {
                log::info!("notification {id} delivered by {}", n.channel);
                ("sent", None, now)
            }
            Err(Attempt::Unconfigured(why)) => {
                log::warn!(
                    "notification {id} of tenant {} not delivered: {why}",
                    n.tenant_id
                );
                ("unconfigured", Some(why.to_string()), now)
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
                    "notification {id} not delivered ({why}); next try in {} s",
                    wait / 1000
                );
                ("pending", Some(why), now + wait)
            }
        };
        if status == "unconfigured" {
            let why = error.unwrap_or_default();
            return self
                .store
                .write(move |c| notifications::mark_unconfigured(c, id, &why))
                .await;
        }
        self.store
            .write(move |c| {
                notifications::record_attempt(c, id, status, error.as_deref(), next, now)
            })
            .await
    }
}

/// The header that carries a webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Fruxon-Signature";

/// `sha256=` and the hex HMAC-SHA256 of the raw body under the tenant's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
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

//! Builds the application from settings: the one function `main` and the tests both call.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer, web};

use crate::auth::NewKey;
use crate::config::Settings;
use crate::domain::time::Clock;
use crate::state::AppState;
use crate::storage::{self, Store, schema};
use crate::{http, mailer, tenants};

/// Read connections in the pool: enough for the workers and the blocking threads to overlap.
const READERS: u32 = 8;

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The demo tenant's admin key, when this start created it.
    pub demo_key: Option<NewKey>,
    pub state: AppState,
}

impl Application {
    /// Opens and migrates the database, creates the demo tenant on an empty one, and binds.
    pub fn build(mut settings: Settings, clock: Arc<dyn Clock>) -> io::Result<Application> {
        let smtp = mailer::configure(&settings).map_err(io::Error::other)?;
        let store = Store::open(&settings.db_path, READERS).map_err(io::Error::other)?;
        let mut conn = storage::open_connection(&settings.db_path).map_err(io::Error::other)?;
        let demo_key =
            tenants::bootstrap_demo(&mut conn, clock.now_ms()).map_err(io::Error::other)?;
        drop(conn);

        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        settings.bind = listener.local_addr()?.to_string();
        log::info!(
            "fruxon starting: listening on {}, database {} (schema version {}), \
             default environment cap {}, workers {}, smtp {}, settings page {}",
            listener.local_addr()?,
            settings.db_path.display(),
            schema::latest_version(),
            settings.default_environment_cap,
            if settings.workers == 0 {
                "one per core".to_string()
            } else {
                settings.workers.to_string()
            },
            settings.smtp_display(),
            settings.settings_url(),
        );

        let workers = settings.workers;
        let lifetime = Arc::new(());
        mailer::start(
            store.clone(),
            smtp,
            clock.clone(),
            Arc::downgrade(&lifetime),
        );
        let state = AppState {
            store,
            settings: Arc::new(settings),
            clock,
            lifetime,
        };
        let data = web::Data::new(state.clone());
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap_fn(|req, srv| {
                    let started = http::log::begin(&req);
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        http::log::finish(&response, started);
                        Ok(response)
                    }
                })
                .configure(http::routes)
                .default_service(web::to(http::not_found))
        })
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }

        Ok(Application {
            port,
            server: server.run(),
            demo_key,
            state,
        })
    }

    /// The port actually bound (useful when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.server.await
    }

    /// A handle to stop the server, for tests.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

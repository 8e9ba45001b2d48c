//! What the config side and the serving side share: the current route table (swapped
//! whole; only its backends' endpoint lists change in place), readiness, the current
//! problems, and the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::compile::gateway::{GatewayOptions, compile as compile_gateway};
use crate::compile::{Carried, CompileOptions, Problem, backends, compile_after};
use crate::metrics::Metrics;
use crate::objects::{ObjectSet, ServiceSet};
use crate::routes::{RouteTable, Tables};
use crate::serve::access_log::AccessLog;
use crate::serve::limits::{ConnectionCaps, Connections};
use crate::source::health::SourceHealth;

pub struct State {
    tables: ArcSwap<Tables>,
    problems: ArcSwap<Vec<Problem>>,
    /// What the last compile hands the next.
    carried: std::sync::Mutex<Carried>,
    ready: AtomicBool,
    listening: AtomicBool,
    shutting_down: AtomicBool,
    pub options: CompileOptions,
    /// `--gateway`: the Gateway served, instead of the class's Ingresses.
    pub gateway: Option<GatewayOptions>,
    pub metrics: Metrics,
    /// Whether requests are logged; changed live from the class's params.
    pub access_log: AccessLog,
    /// The client connections held, within their caps.
    pub connections: Connections,
    /// Whether the cluster source is being followed, or since when it is not.
    pub source_health: SourceHealth,
    exit_hooks: std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>,
}

impl State {
    pub fn new(
        options: CompileOptions,
        metrics: Metrics,
        access_log: AccessLog,
        caps: ConnectionCaps,
    ) -> Self {
        Self {
            tables: ArcSwap::from_pointee(Tables::default()),
            problems: ArcSwap::from_pointee(Vec::new()),
            carried: Default::default(),
            ready: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            options,
            gateway: None,
            metrics,
            access_log,
            connections: Connections::new(caps),
            source_health: SourceHealth::default(),
            exit_hooks: Default::default(),
        }
    }

    /// Serves the Gateway of `options` (its HTTPRoutes) instead of the class's Ingresses.
    pub fn with_gateway(mut self, options: Option<GatewayOptions>) -> Self {
        self.gateway = options;
        self
    }

    /// The tables requests are routed by, one per port. Cheap: one atomic load and
    /// reference count.
    pub fn tables(&self) -> Arc<Tables> {
        self.tables.load_full()
    }

    /// The default table: every port's in Ingress mode; in Gateway mode, no routes but
    /// every backend and what the routes read by name.
    pub fn table(&self) -> Arc<RouteTable> {
        self.tables.load().default.clone()
    }

    pub fn problems(&self) -> Arc<Vec<Problem>> {
        self.problems.load_full()
    }

    /// Ready once a complete set of objects has been compiled and swapped in and the
    /// listeners accept connections, until shutdown begins (so load balancers stop
    /// sending new connections).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self.listening.load(Ordering::Acquire)
            && !self.shutting_down.load(Ordering::Acquire)
    }

    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Compiles `objects` and swaps the result in atomically: a request in flight keeps
    /// the table it started with, the next one gets the new table.
    pub fn publish(&self, objects: &ObjectSet) {
        let started = Instant::now();
        let (tables, problems, ingresses) = match &self.gateway {
            Some(gateway) => {
                let compiled = compile_gateway(objects, gateway);
                let routes = objects.http_routes.len();
                (compiled.tables, compiled.problems, routes)
            }
            None => {
                let mut carried = self.carried.lock().unwrap_or_else(|e| e.into_inner());
                let compiled = compile_after(objects, &self.options, &carried);
                *carried = compiled.carried;
                let ingresses = compiled.table.ingresses;
                (Tables::single(compiled.table), compiled.problems, ingresses)
            }
        };
        let routes = tables.route_count();
        let tls = tables.certificate_count();
        let mut expiry: Vec<(String, i64)> = tables
            .iter()
            .flat_map(|t| t.tls.expiry.iter().cloned())
            .collect();
        expiry.sort();
        expiry.dedup();
        self.metrics.set_certificate_expiry(&expiry);
        let elapsed = started.elapsed();
        // The old tables are freed here, on the config thread, unless a request still holds
        // them.
        drop(self.tables.swap(Arc::new(tables)));
        self.ready.store(true, Ordering::Release);

        // Log only what is new, so a recompile of unchanged input stays quiet.
        let previous = self.problems.load();
        for problem in problems.iter().filter(|p| !previous.contains(p)) {
            tracing::warn!(object = %problem.object, kind = ?problem.kind, "{}", problem.message);
        }
        self.metrics
            .record_reload(elapsed, routes, ingresses, &problems);
        self.problems.store(Arc::new(problems));
        tracing::info!(
            ingresses,
            routes,
            tls_certificates = tls,
            objects = objects.len(),
            compile_ms = elapsed.as_secs_f64() * 1000.0,
            "route table swapped in"
        );
    }

    /// Refreshes, in place, the endpoints of the current table's backends of the
    /// `changed` Services, from `objects` (only its Services and EndpointSlices are read).
    /// For changes that touch nothing but endpoints: the routes stay as compiled.
    pub fn update_endpoints(&self, objects: &ObjectSet, changed: &ServiceSet) {
        let started = Instant::now();
        let tables = self.tables.load();
        let updated = backends::refresh(
            &tables.default.backends,
            changed,
            objects.services.iter().map(AsRef::as_ref),
            objects.endpoint_slices.iter().map(AsRef::as_ref),
        );
        let elapsed = started.elapsed();
        self.metrics.endpoint_updates.inc();
        self.metrics
            .endpoint_update_duration
            .observe(elapsed.as_secs_f64());
        tracing::debug!(
            services = changed.len(),
            backends_updated = updated,
            update_ms = elapsed.as_secs_f64() * 1000.0,
            "endpoints updated in place"
        );
    }

    /// Registers work to do just before the process exits (flushing spans).
    pub fn on_exit(&self, hook: Box<dyn FnOnce() + Send>) {
        self.exit_hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    /// Writes out the access log and runs the exit hooks; call right before exiting.
    pub fn run_exit_hooks(&self) {
        self.access_log.flush();
        let hooks = std::mem::take(&mut *self.exit_hooks.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            hook();
        }
    }

    /// A source failed to produce a usable object set; the current table stays.
    pub fn record_source_error(&self, error: &dyn std::fmt::Display) {
        self.metrics.source_errors.inc();
        tracing::error!(%error, "configuration not loaded; still serving the last good routes");
    }
}

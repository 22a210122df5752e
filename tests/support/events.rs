//! Captures `tracing` events, so tests can assert what the layer logs.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One event: its level, target, and `field=value` pairs (the message as
/// `message`), and the names of the fields it recorded, in order.
#[derive(Clone, Debug)]
pub struct Captured {
    pub level: Level,
    pub target: &'static str,
    pub fields: String,
    pub names: Vec<&'static str>,
}

impl Captured {
    pub fn has(&self, needle: &str) -> bool {
        self.fields.contains(needle)
    }
}

#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Captured>>>, Arc<Mutex<Vec<String>>>);

impl Events {
    /// Installs a capturing subscriber for the current thread.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let events = Events::default();
        let subscriber = tracing_subscriber::registry().with(events.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        (events, guard)
    }

    pub fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// The values recorded on spans after they were made, in order.
    pub fn records(&self) -> Vec<String> {
        self.1.lock().unwrap().clone()
    }

    pub fn at(&self, level: Level) -> Vec<Captured> {
        self.all()
            .into_iter()
            .filter(|e| e.level == level)
            .collect()
    }
}

#[derive(Default)]
struct Fields(String, Vec<&'static str>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
        self.1.push(field.name());
    }
}

impl<S: Subscriber> Layer<S> for Events {
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        self.1.lock().unwrap().push(fields.0);
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target(),
            fields: fields.0,
            names: fields.1,
        });
    }
}

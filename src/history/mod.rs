//! The history store: every `drydock run`'s report, every watch round's results, the state each
//! watched check is in, the transitions that sent notifications, and the notifications still to
//! deliver — in one SQLite file (WAL: a crash loses no committed round).
//!
//! Outages are read back from the transitions: a `failing` and the `recovered` that ends it
//! (a check's outage), an `unreachable` and its `reachable` (the monitor could not see the
//! target: listed apart, never as a check failure).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The default store, beside `drydock.yaml`.
pub const DEFAULT_PATH: &str = ".drydock/history.db";

/// How long rounds and runs are kept unless `watch.retention` says otherwise.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// At most this many notifications wait for delivery; the oldest go first when it is full.
pub const OUTBOX_LIMIT: i64 = 10_000;

/// The schema, one migration per version: `PRAGMA user_version` says how many have been
/// applied. Migration 1 is the schema stores had before versions were recorded (every
/// statement `IF NOT EXISTS`, so such a store takes it as it is). Never edit one: add the next.
const MIGRATIONS: &[&str] = &["
CREATE TABLE IF NOT EXISTS rounds (
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
  passed INTEGER NOT NULL, failed INTEGER NOT NULL, unknown INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS results (
  round INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
  target TEXT NOT NULL, check_name TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_by_check ON results(target, check_name, round);
CREATE INDEX IF NOT EXISTS results_by_round ON results(round);
CREATE INDEX IF NOT EXISTS rounds_by_time ON rounds(at);
CREATE TABLE IF NOT EXISTS transitions (
  id TEXT PRIMARY KEY, at INTEGER NOT NULL, since INTEGER NOT NULL, target TEXT NOT NULL,
  check_name TEXT NOT NULL, event TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transitions_by_time ON transitions(at);
CREATE TABLE IF NOT EXISTS states (
  target TEXT NOT NULL, check_name TEXT NOT NULL, state TEXT NOT NULL,
  PRIMARY KEY (target, check_name));
CREATE TABLE IF NOT EXISTS latest (
  target TEXT PRIMARY KEY, round INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, at INTEGER NOT NULL, project TEXT NOT NULL, command TEXT NOT NULL,
  verdict TEXT NOT NULL, duration_ms INTEGER NOT NULL, report TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs(at);
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT NOT NULL, channel TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL,
  next_at INTEGER NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (id, channel));
"];

/// The store.
pub struct History {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// Why the history store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file cannot be created, opened or read.
    #[error("history store {path}: {reason}")]
    Store {
        /// The store's file.
        path: String,
        /// What SQLite or the file system said.
        reason: String,
    },
    /// Another `drydock watch` holds the store.
    #[error("the history store {path} is in use by another `drydock watch` ({holder}); two monitors on one store would both notify: stop the other one, or give this one its own store with --history")]
    Locked {
        /// The store's file.
        path: String,
        /// Who holds it, as its lock file says.
        holder: String,
    },
    /// The store was written by a newer drydock.
    #[error("the history store {path} has schema version {found}, newer than this drydock knows ({known}); use a newer drydock, or another store with --history")]
    Newer {
        /// The store's file.
        path: String,
        /// Its version.
        found: i64,
        /// The newest this drydock knows.
        known: i64,
    },
}

/// One check's result in a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRow {
    /// The target.
    pub target: String,
    /// The check (empty: the target itself).
    pub check: String,
    /// `pass`, `fail`, `error`, `skipped` or `unknown`.
    pub status: String,
    /// What was found.
    pub message: String,
}

#[cfg(test)]
impl ResultRow {
    /// A row for tests, its message `"{check} {status}"`.
    pub fn sample(target: &str, check: &str, status: &str) -> ResultRow {
        ResultRow {
            target: target.into(),
            check: check.into(),
            status: status.into(),
            message: format!("{check} {status}"),
        }
    }
}

/// A transition that sent a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// The notification's id.
    pub id: String,
    /// When it happened (unix ms).
    pub at: i64,
    /// Since when the condition held (unix ms).
    pub since: i64,
    /// The target.
    pub target: String,
    /// The check (empty for `unreachable`/`reachable`).
    pub check: String,
    /// `failing`, `recovered`, `unreachable` or `reachable`.
    pub event: String,
    /// What was found.
    pub message: String,
}

/// A notification waiting for delivery on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The notification's id (the same on every attempt).
    pub id: String,
    /// `webhook`, `alertmanager`, `email`.
    pub channel: String,
    /// What to send.
    pub payload: String,
    /// Attempts so far.
    pub attempts: i64,
}

/// One round to record.
pub struct Round<'a> {
    /// When it started (unix ms).
    pub at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// Every result.
    pub results: &'a [ResultRow],
    /// The transitions it caused.
    pub transitions: &'a [Transition],
    /// The states after it: (target, check, state as JSON).
    pub states: &'a [(String, String, String)],
    /// Notifications to queue: (id, channel, payload).
    pub outbox: &'a [(String, String, String)],
}

/// Something that was down, from when to when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    /// The target.
    pub target: String,
    /// The check; empty when the monitor could not reach the target.
    pub check: String,
    /// `check` (a check failed) or `unreachable` (the monitor could not see the target).
    pub kind: String,
    /// Since when (unix ms).
    pub from: i64,
    /// Until when (unix ms); `None`: still down.
    pub to: Option<i64>,
    /// What ended it: `recovered`, `reachable`, or `unwatched` (it left the configuration
    /// while down); `None`: still down.
    pub ended_by: Option<String>,
    /// The failure's message.
    pub message: String,
}

/// A round, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRow {
    /// Its id.
    pub id: i64,
    /// When (unix ms).
    pub at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// Checks that passed.
    pub passed: i64,
    /// Checks that failed.
    pub failed: i64,
    /// Targets that could not be reached.
    pub unknown: i64,
    /// Its results that were not a pass.
    pub problems: Vec<ResultRow>,
}

/// A recorded run, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    /// The run's id.
    pub run_id: String,
    /// When it finished (unix ms).
    pub at: i64,
    /// The project.
    pub project: String,
    /// The command that made it (`run`).
    pub command: String,
    /// `pass`, `fail` or `error`.
    pub verdict: String,
    /// How long it took.
    pub duration_ms: i64,
}

/// Transitions that start an outage.
const STARTS: &[&str] = &["failing", "unreachable", "erroring"];
/// Transitions that end one.
const ENDS: &[&str] = &["recovered", "reachable", "unwatched"];

/// Pairs each outage's start with the transition that ended it (`None`: still going), in the
/// order of `transitions` (oldest first). A start for a target and check that already has one
/// going ends that one (a check that could not be evaluated and then failed: its `erroring`
/// outage ends where its `failing` one begins). An end without a start is dropped.
pub fn pair(transitions: Vec<Transition>) -> Vec<(Transition, Option<Transition>)> {
    let mut open: Vec<Transition> = Vec::new();
    let mut pairs: Vec<(Transition, Option<Transition>)> = Vec::new();
    for t in transitions {
        let going = open
            .iter()
            .position(|o| o.target == t.target && o.check == t.check);
        if STARTS.contains(&t.event.as_str()) {
            if let Some(i) = going {
                let start = open.remove(i);
                pairs.push((start, Some(t.clone())));
            }
            open.push(t);
        } else if ENDS.contains(&t.event.as_str()) {
            if let Some(i) = going {
                let start = open.remove(i);
                pairs.push((start, Some(t)));
            }
        }
    }
    pairs.extend(open.into_iter().map(|start| (start, None)));
    pairs
}

/// Records a transition (once: its id is the key).
const INSERT_TRANSITION: &str = "INSERT OR IGNORE INTO transitions (id, at, since, target, check_name, event, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn insert_transition(stmt: &mut rusqlite::Statement<'_>, t: &Transition) -> rusqlite::Result<()> {
    stmt.execute(params![
        t.id, t.at, t.since, t.target, t.check, t.event, t.message
    ])
    .map(|_| ())
}

/// A `results` row read as `SELECT target, check_name, status, message`.
fn result_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResultRow> {
    Ok(ResultRow {
        target: r.get(0)?,
        check: r.get(1)?,
        status: r.get(2)?,
        message: r.get(3)?,
    })
}

fn err(path: &Path, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Store {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The schema version this drydock writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Creates the store's file and folder readable by their owner only (a store holds what
/// targets said, webhook payloads and reports); an existing file is left as it is.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    private_folder(path)?;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the folder of `path`, owner-only, when it does not exist.
fn private_folder(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.exists() => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent),
        _ => Ok(()),
    }
}

/// Brings the store at `conn` up to [`SCHEMA_VERSION`], one migration at a time, each in its
/// own transaction with the version it reaches.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), HistoryError> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| err(path, e))?;
    if found > SCHEMA_VERSION {
        return Err(HistoryError::Newer {
            path: path.display().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction().map_err(|e| err(path, e))?;
        tx.execute_batch(migration).map_err(|e| err(path, e))?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(|e| err(path, e))?;
        tx.commit().map_err(|e| err(path, e))?;
    }
    Ok(())
}

/// The lock a monitor holds on its store for as long as it runs: a second `drydock watch` on
/// the same store is refused rather than sending every notification twice. The lock file sits
/// beside the store; the operating system releases it when the process ends, however it ends.
#[derive(Debug)]
pub struct WatchLock {
    _file: std::fs::File,
}

impl WatchLock {
    /// Takes the lock of the store at `path`, or says who holds it.
    pub fn take(path: &Path) -> Result<WatchLock, HistoryError> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::OpenOptionsExt;
        let lock_path = PathBuf::from(format!("{}.watch-lock", path.display()));
        private_folder(path).map_err(|e| err(path, e))?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| err(&lock_path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(HistoryError::Locked {
                    path: path.display().to_string(),
                    holder: if holder.trim().is_empty() {
                        "a process that is still starting".into()
                    } else {
                        holder.trim().to_string()
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(&lock_path, e)),
        }
        let me = format!(
            "pid {} on {}",
            std::process::id(),
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default()
        );
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = file.write_all(me.as_bytes());
        Ok(WatchLock { _file: file })
    }
}

impl History {
    /// Opens (creating, owner-only) the store at `path`, migrating it to this drydock's
    /// schema.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        create_private(path).map_err(|e| err(path, e))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            keep_out_of_git(parent);
        }
        let mut conn = Connection::open(path).map_err(|e| err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err(path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| err(path, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| err(path, e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| err(path, e))?;
        migrate(&mut conn, path)?;
        Ok(History {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, HistoryError> {
        let mut conn = self.conn.lock().map_err(|_| err(&self.path, "poisoned"))?;
        f(&mut conn).map_err(|e| err(&self.path, e))
    }

    /// From now on every write fails, as on a full or read-only disk.
    #[cfg(test)]
    pub fn break_writes(&self) {
        let _ = self.with(|conn| conn.pragma_update(None, "query_only", true));
    }

    /// Records a round, its transitions, the states after it and the notifications it queues,
    /// all or nothing.
    pub fn record(&self, round: &Round<'_>) -> Result<i64, HistoryError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let count = |status: &str| {
                round
                    .results
                    .iter()
                    .filter(|r| r.status == status && !r.check.is_empty())
                    .count() as i64
            };
            let unknown = round
                .results
                .iter()
                .filter(|r| r.status == "unknown" && r.check.is_empty())
                .count() as i64;
            tx.execute(
                "INSERT INTO rounds (at, duration_ms, passed, failed, unknown) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![round.at, round.duration_ms, count("pass"), count("fail"), unknown],
            )?;
            let id = tx.last_insert_rowid();
            {
                let mut insert = tx.prepare(
                    "INSERT INTO results (round, target, check_name, status, message) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for r in round.results {
                    insert.execute(params![id, r.target, r.check, r.status, r.message])?;
                }
                let mut latest = tx.prepare(
                    "INSERT INTO latest (target, round) VALUES (?1, ?2)
                     ON CONFLICT (target) DO UPDATE SET round = excluded.round",
                )?;
                let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
                for r in round.results {
                    if seen.insert(&r.target) {
                        latest.execute(params![r.target, id])?;
                    }
                }
                let mut insert = tx.prepare(INSERT_TRANSITION)?;
                for t in round.transitions {
                    insert_transition(&mut insert, t)?;
                }
                let mut upsert = tx.prepare(
                    "INSERT INTO states (target, check_name, state) VALUES (?1, ?2, ?3)
                     ON CONFLICT (target, check_name) DO UPDATE SET state = excluded.state",
                )?;
                for (target, check, state) in round.states {
                    upsert.execute(params![target, check, state])?;
                }
                let mut queue = tx.prepare(
                    "INSERT OR IGNORE INTO outbox (id, channel, payload, attempts, next_at, created) VALUES (?1, ?2, ?3, 0, ?4, ?4)",
                )?;
                for (nid, channel, payload) in round.outbox {
                    queue.execute(params![nid, channel, payload, round.at])?;
                }
            }
            tx.execute(
                "DELETE FROM outbox WHERE rowid IN (SELECT rowid FROM outbox ORDER BY created DESC LIMIT -1 OFFSET ?1)",
                params![OUTBOX_LIMIT],
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Forgets the states of checks and targets no longer watched: each `(transition, down)`
    /// drops the state of the transition's target and check, and when it was `down` records
    /// the transition (`unwatched`), which ends its outage.
    pub fn unwatch(&self, gone: &[(Transition, bool)]) -> Result<(), HistoryError> {
        if gone.is_empty() {
            return Ok(());
        }
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut forget =
                    tx.prepare("DELETE FROM states WHERE target = ?1 AND check_name = ?2")?;
                let mut insert = tx.prepare(INSERT_TRANSITION)?;
                for (t, down) in gone {
                    forget.execute(params![t.target, t.check])?;
                    if *down {
                        insert_transition(&mut insert, t)?;
                    }
                }
            }
            tx.commit()
        })
    }

    /// Every stored state: (target, check, state as JSON).
    pub fn states(&self) -> Result<Vec<(String, String, String)>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare("SELECT target, check_name, state FROM states")?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Notifications due for an attempt at `now`, oldest first.
    pub fn due(&self, now: i64) -> Result<Vec<Pending>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT id, channel, payload, attempts FROM outbox WHERE next_at <= ?1 ORDER BY created, id",
            )?;
            let rows = q.query_map(params![now], |r| {
                Ok(Pending {
                    id: r.get(0)?,
                    channel: r.get(1)?,
                    payload: r.get(2)?,
                    attempts: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// How many notifications wait.
    pub fn pending(&self) -> Result<i64, HistoryError> {
        self.with(|conn| conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0)))
    }

    /// A notification was delivered on `channel`.
    pub fn delivered(&self, id: &str, channel: &str) -> Result<(), HistoryError> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM outbox WHERE id = ?1 AND channel = ?2",
                params![id, channel],
            )
            .map(|_| ())
        })
    }

    /// A delivery failed: try again at `next_at`.
    pub fn retry_at(&self, id: &str, channel: &str, next_at: i64) -> Result<(), HistoryError> {
        self.with(|conn| {
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ?3 WHERE id = ?1 AND channel = ?2",
                params![id, channel, next_at],
            )
            .map(|_| ())
        })
    }

    /// Rounds since `since` (unix ms), newest first, each with its problems; `target` limits
    /// the results to one target.
    pub fn rounds(&self, since: i64, target: Option<&str>) -> Result<Vec<RoundRow>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT id, at, duration_ms, passed, failed, unknown FROM rounds o WHERE at >= ?1
                 AND (?2 IS NULL OR EXISTS (SELECT 1 FROM results r WHERE r.round = o.id AND r.target = ?2))
                 ORDER BY at DESC, id DESC",
            )?;
            let mut rounds: Vec<RoundRow> = q
                .query_map(params![since, target], |r| {
                    Ok(RoundRow {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        duration_ms: r.get(2)?,
                        passed: r.get(3)?,
                        failed: r.get(4)?,
                        unknown: r.get(5)?,
                        problems: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut q = conn.prepare(
                "SELECT target, check_name, status, message FROM results WHERE round = ?1 AND status != 'pass' AND (?2 IS NULL OR target = ?2) ORDER BY target, check_name",
            )?;
            for round in &mut rounds {
                round.problems = q
                    .query_map(params![round.id, target], result_row)?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(rounds)
        })
    }

    /// Every transition, oldest first.
    fn transitions(&self) -> Result<Vec<Transition>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT id, at, since, target, check_name, event, message FROM transitions ORDER BY at, id",
            )?;
            let rows = q.query_map([], |r| {
                Ok(Transition {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    since: r.get(2)?,
                    target: r.get(3)?,
                    check: r.get(4)?,
                    event: r.get(5)?,
                    message: r.get(6)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// What was down since `since` (unix ms): each failure from its start to its recovery (or
    /// still going), oldest first.
    pub fn outages(&self, since: i64) -> Result<Vec<Outage>, HistoryError> {
        let mut outages: Vec<Outage> = pair(self.transitions()?)
            .into_iter()
            .filter_map(|(start, end)| {
                let kind = match (start.check.is_empty(), start.event.as_str()) {
                    (true, _) => "unreachable",
                    (false, "erroring") => "error",
                    (false, _) => "check",
                };
                let outage = Outage {
                    kind: kind.into(),
                    from: start.since,
                    to: end.as_ref().map(|e| e.at),
                    ended_by: end.map(|e| e.event),
                    message: start.message,
                    target: start.target,
                    check: start.check,
                };
                outage.to.is_none_or(|to| to >= since).then_some(outage)
            })
            .collect();
        outages.sort_by_key(|o| (o.from, o.target.clone(), o.check.clone()));
        Ok(outages)
    }

    /// How many of the last day's results of a check failed, and how many there were.
    pub fn failure_rate(
        &self,
        target: &str,
        check: &str,
        since: i64,
    ) -> Result<(i64, i64), HistoryError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT coalesce(sum(r.status = 'fail'), 0), count(*) FROM results r JOIN rounds o ON o.id = r.round
                 WHERE r.target = ?1 AND r.check_name = ?2 AND o.at >= ?3",
                params![target, check, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    /// Removes rounds (and their results), runs and outages that ended before `before` (unix
    /// ms). An outage goes whole, its start with its end: an outage still going is kept however
    /// old its start, and no end is left without its start (nor a start without its end, which
    /// would read as an outage that never ended).
    pub fn prune(&self, before: i64) -> Result<usize, HistoryError> {
        let ended: Vec<String> = pair(self.transitions()?)
            .into_iter()
            .filter_map(|(start, end)| {
                let end = end?;
                (end.at < before).then_some([start.id, end.id])
            })
            .flatten()
            .collect();
        self.with(|conn| {
            let tx = conn.transaction()?;
            let n = tx.execute("DELETE FROM rounds WHERE at < ?1", params![before])?;
            tx.execute(
                "DELETE FROM latest WHERE round NOT IN (SELECT id FROM rounds)",
                [],
            )?;
            tx.execute("DELETE FROM runs WHERE at < ?1", params![before])?;
            {
                let mut forget = tx.prepare("DELETE FROM transitions WHERE id = ?1")?;
                for id in &ended {
                    forget.execute(params![id])?;
                }
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// Records a finished run: its report as JSON, found again by its id. Runs that finished
    /// before `keep_after` (unix ms) go.
    pub fn record_run(
        &self,
        run: &RunRow,
        report_json: &str,
        keep_after: i64,
    ) -> Result<(), HistoryError> {
        self.with(|conn| {
            conn.execute("DELETE FROM runs WHERE at < ?1", params![keep_after])?;
            conn.execute(
                "INSERT OR REPLACE INTO runs (id, at, project, command, verdict, duration_ms, report)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    run.run_id,
                    run.at,
                    run.project,
                    run.command,
                    run.verdict,
                    run.duration_ms,
                    report_json
                ],
            )
            .map(|_| ())
        })
    }

    /// The newest `limit` runs, newest first.
    pub fn runs(&self, limit: i64) -> Result<Vec<RunRow>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT id, at, project, command, verdict, duration_ms FROM runs ORDER BY at DESC, id LIMIT ?1",
            )?;
            let rows = q.query_map(params![limit], |r| {
                Ok(RunRow {
                    run_id: r.get(0)?,
                    at: r.get(1)?,
                    project: r.get(2)?,
                    command: r.get(3)?,
                    verdict: r.get(4)?,
                    duration_ms: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// One run's report (JSON), if it is stored.
    pub fn run_report(&self, run_id: &str) -> Result<Option<String>, HistoryError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT report FROM runs WHERE id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// How many runs are stored, per verdict.
    pub fn run_counts(&self) -> Result<Vec<(String, i64)>, HistoryError> {
        self.with(|conn| {
            let mut q = conn
                .prepare("SELECT verdict, count(*) FROM runs GROUP BY verdict ORDER BY verdict")?;
            let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Each watched target's newest round: when it was, and its results (the target's own
    /// row, check empty, first), by target. Targets that share a round (one monitor watches
    /// them all) are read in one pass over it.
    pub fn latest(&self) -> Result<Vec<(i64, Vec<ResultRow>)>, HistoryError> {
        self.with(|conn| {
            let mut q = conn.prepare(
                "SELECT l.target, l.round, o.at FROM latest l JOIN rounds o ON o.id = l.round ORDER BY l.target",
            )?;
            let targets: Vec<(String, i64, i64)> = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut rounds: Vec<i64> = targets.iter().map(|(_, round, _)| *round).collect();
            rounds.sort_unstable();
            rounds.dedup();
            let mut q = conn.prepare(
                "SELECT target, check_name, status, message FROM results WHERE round = ?1 ORDER BY rowid",
            )?;
            let mut by_target: std::collections::HashMap<(i64, String), Vec<ResultRow>> =
                std::collections::HashMap::new();
            for round in rounds {
                for row in q.query_map(params![round], result_row)? {
                    let row = row?;
                    by_target
                        .entry((round, row.target.clone()))
                        .or_default()
                        .push(row);
                }
            }
            Ok(targets
                .into_iter()
                .map(|(target, round, at)| {
                    let mut rows = by_target.remove(&(round, target)).unwrap_or_default();
                    // The target's own row (unreachable) first; the checks keep their order.
                    rows.sort_by_key(|r| !r.check.is_empty());
                    (at, rows)
                })
                .collect())
        })
    }

    /// The newest round's time, if any.
    pub fn last_round(&self) -> Result<Option<i64>, HistoryError> {
        self.with(|conn| {
            conn.query_row("SELECT max(at) FROM rounds", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()
            .map(Option::flatten)
        })
    }
}

/// drydock's own folder (`.drydock/` beside drydock.yaml) gets a `.gitignore` that ignores
/// everything in it, so a run in a repository leaves `git status` clean. Best effort: a folder
/// that cannot take it is left as it is.
fn keep_out_of_git(folder: &Path) {
    let gitignore = folder.join(".gitignore");
    if folder.file_name() == Some(std::ffi::OsStr::new(".drydock")) && !gitignore.exists() {
        let _ = std::fs::write(
            gitignore,
            "# Written by drydock: its history store does not belong in git.\n*\n",
        );
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (History, PathBuf) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "drydock-history-{}-{}.db",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        (History::open(&path).unwrap(), path)
    }

    fn row(target: &str, check: &str, status: &str) -> ResultRow {
        ResultRow::sample(target, check, status)
    }

    fn transition(
        id: &str,
        at: i64,
        since: i64,
        target: &str,
        check: &str,
        event: &str,
    ) -> Transition {
        Transition {
            id: id.into(),
            at,
            since,
            target: target.into(),
            check: check.into(),
            event: event.into(),
            message: "down".into(),
        }
    }

    #[test]
    fn outages_pair_failures_with_recoveries_and_keep_unreachability_apart() {
        let (h, path) = store();
        let rounds = [
            (
                1_000,
                vec![transition("a", 1_000, 900, "web", "nginx", "failing")],
            ),
            (
                2_000,
                vec![transition("b", 2_000, 1_900, "db", "", "unreachable")],
            ),
            (
                5_000,
                vec![transition("c", 5_000, 900, "web", "nginx", "recovered")],
            ),
        ];
        for (at, transitions) in &rounds {
            h.record(&Round {
                at: *at,
                duration_ms: 10,
                results: &[row("web", "nginx", "fail")],
                transitions,
                states: &[],
                outbox: &[],
            })
            .unwrap();
        }
        let outages = h.outages(0).unwrap();
        assert_eq!(outages.len(), 2);
        assert_eq!(
            (
                outages[0].target.as_str(),
                outages[0].check.as_str(),
                outages[0].kind.as_str()
            ),
            ("web", "nginx", "check")
        );
        assert_eq!((outages[0].from, outages[0].to), (900, Some(5_000)));
        assert_eq!(outages[1].kind, "unreachable");
        assert_eq!((outages[1].from, outages[1].to), (1_900, None));
        assert_eq!(outages[0].ended_by.as_deref(), Some("recovered"));
        assert_eq!(h.outages(6_000).unwrap().len(), 1, "only the ongoing one");
        // The unreachable target leaves the configuration: its outage ends there, its state goes.
        let mut gone = transition("d", 7_000, 1_900, "db", "", "unwatched");
        gone.message = "no longer watched".into();
        h.unwatch(&[(gone, true)]).unwrap();
        let outages = h.outages(0).unwrap();
        assert_eq!(
            (outages[1].to, outages[1].ended_by.as_deref()),
            (Some(7_000), Some("unwatched"))
        );
        assert_eq!(h.failure_rate("web", "nginx", 0).unwrap(), (3, 3));
        let _ = std::fs::remove_file(&path);
    }

    /// Records `transitions`, one round each, at their own times.
    fn record_each(h: &History, transitions: &[Transition]) {
        for t in transitions {
            h.record(&Round {
                at: t.at,
                duration_ms: 1,
                results: &[row(&t.target, &t.check, "fail")],
                transitions: std::slice::from_ref(t),
                states: &[],
                outbox: &[],
            })
            .unwrap();
        }
    }

    #[test]
    fn pruning_removes_whole_outages_never_half_of_one() {
        let (h, path) = store();
        record_each(
            &h,
            &[
                // Ended before the cut-off: goes, start and end.
                transition("a1", 1_000, 1_000, "web", "nginx", "failing"),
                transition("a2", 2_000, 1_000, "web", "nginx", "recovered"),
                // Spans the cut-off: stays, whole.
                transition("b1", 3_000, 3_000, "web", "nginx", "failing"),
                transition("b2", 6_000, 3_000, "web", "nginx", "recovered"),
                // Started before the cut-off and still going: stays.
                transition("c1", 4_000, 4_000, "db", "", "unreachable"),
            ],
        );
        h.prune(5_000).unwrap();
        let outages = h.outages(0).unwrap();
        let spans: Vec<(i64, Option<i64>, &str)> = outages
            .iter()
            .map(|o| (o.from, o.to, o.target.as_str()))
            .collect();
        assert_eq!(spans, [(3_000, Some(6_000), "web"), (4_000, None, "db")]);
        // A later recovery closes the ongoing outage, not a ghost of an old one.
        record_each(&h, &[transition("c2", 8_000, 4_000, "db", "", "reachable")]);
        let outages = h.outages(0).unwrap();
        assert_eq!(outages[1].to, Some(8_000));
        assert!(outages.iter().all(|o| o.to.is_some()));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_erroring_check_that_fails_ends_its_erroring_outage() {
        let pairs = pair(vec![
            transition("e", 1_000, 1_000, "web", "pkg", "erroring"),
            transition("f", 2_000, 2_000, "web", "pkg", "failing"),
            transition("r", 3_000, 2_000, "web", "pkg", "recovered"),
        ]);
        let ends: Vec<(&str, Option<&str>)> = pairs
            .iter()
            .map(|(s, e)| (s.event.as_str(), e.as_ref().map(|e| e.event.as_str())))
            .collect();
        assert_eq!(
            ends,
            [
                ("erroring", Some("failing")),
                ("failing", Some("recovered"))
            ]
        );
    }

    #[test]
    fn the_store_is_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("drydock-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("history.db");
        drop(History::open(&path).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_old_store_is_migrated_and_a_newer_one_refused() {
        let (h, path) = store();
        drop(h);
        // A store from before versions were recorded: the tables, version 0.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 0).unwrap();
        drop(conn);
        let h = History::open(&path).unwrap();
        let version: i64 = h
            .with(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        drop(h);
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        match History::open(&path) {
            Err(HistoryError::Newer { found, known, .. }) => {
                assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
            }
            other => panic!("expected Newer, got {:?}", other.err()),
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn one_monitor_per_store() {
        let (h, path) = store();
        drop(h);
        let first = WatchLock::take(&path).unwrap();
        match WatchLock::take(&path) {
            Err(HistoryError::Locked { holder, .. }) => {
                assert!(
                    holder.starts_with(&format!("pid {}", std::process::id())),
                    "{holder}"
                )
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        assert!(WatchLock::take(&path).is_ok());
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(format!("{}.watch-lock", path.display()));
    }

    #[test]
    fn the_outbox_keeps_a_notification_until_it_is_delivered() {
        let (h, path) = store();
        h.record(&Round {
            at: 100,
            duration_ms: 1,
            results: &[row("web", "nginx", "fail")],
            transitions: &[],
            states: &[("web".into(), "nginx".into(), "{}".into())],
            outbox: &[("n1".into(), "webhook".into(), "{}".into())],
        })
        .unwrap();
        assert_eq!(h.due(100).unwrap().len(), 1);
        h.retry_at("n1", "webhook", 500).unwrap();
        assert!(h.due(499).unwrap().is_empty());
        let again = h.due(500).unwrap();
        assert_eq!((again[0].id.as_str(), again[0].attempts), ("n1", 1));
        h.delivered("n1", "webhook").unwrap();
        assert_eq!(h.pending().unwrap(), 0);
        assert_eq!(h.states().unwrap().len(), 1);
        // A reopened store has every committed round.
        drop(h);
        let h = History::open(&path).unwrap();
        assert_eq!(h.rounds(0, None).unwrap().len(), 1);
        assert_eq!(h.rounds(0, Some("elsewhere")).unwrap().len(), 0);
        let _ = std::fs::remove_file(&path);
    }

    fn run_row(id: &str, at: i64, verdict: &str) -> RunRow {
        RunRow {
            run_id: id.into(),
            at,
            project: "web".into(),
            command: "run".into(),
            verdict: verdict.into(),
            duration_ms: 1_000,
        }
    }

    #[test]
    fn runs_come_back_newest_first_by_id_and_old_ones_go() {
        let (h, path) = store();
        h.record_run(&run_row("r1", 1_000, "pass"), "{\"run_id\":\"r1\"}", 0)
            .unwrap();
        h.record_run(&run_row("r2", 2_000, "fail"), "{\"run_id\":\"r2\"}", 0)
            .unwrap();
        let ids: Vec<String> = h.runs(10).unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["r2", "r1"]);
        assert_eq!(h.runs(1).unwrap().len(), 1);
        assert_eq!(
            h.run_report("r1").unwrap().as_deref(),
            Some("{\"run_id\":\"r1\"}")
        );
        assert_eq!(h.run_report("r9").unwrap(), None);
        assert_eq!(
            h.run_counts().unwrap(),
            [("fail".to_string(), 1), ("pass".to_string(), 1)]
        );
        // A run recorded with a retention that ends after r1 and r2 removes them.
        h.record_run(&run_row("r3", 9_000, "pass"), "{}", 5_000)
            .unwrap();
        let ids: Vec<String> = h.runs(10).unwrap().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["r3"]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn latest_gives_each_targets_newest_round() {
        let (h, path) = store();
        let round = |at: i64, results: &[ResultRow]| {
            h.record(&Round {
                at,
                duration_ms: 1,
                results,
                transitions: &[],
                states: &[],
                outbox: &[],
            })
            .unwrap()
        };
        round(
            1_000,
            &[row("web", "nginx", "pass"), row("db", "pg", "pass")],
        );
        round(2_000, &[row("web", "nginx", "fail")]);
        let latest = h.latest().unwrap();
        assert_eq!(latest.len(), 2);
        assert_eq!(latest[0], (1_000, vec![row("db", "pg", "pass")]));
        assert_eq!(latest[1], (2_000, vec![row("web", "nginx", "fail")]));
        // Pruning the round a target was last seen in drops the target.
        h.prune(1_500).unwrap();
        assert_eq!(h.latest().unwrap().len(), 1);
        let _ = std::fs::remove_file(&path);
    }
}

//! The ingest journal: every trajectory the learner accepts is appended here and made durable
//! (`fdatasync`) *before* the actor is told it was accepted. Trajectories are numbered in the
//! order they enter the training queue; checkpoints record how many the training thread had
//! consumed. A learner that restarts — after SIGKILL, a crash or a reschedule — feeds the
//! journaled trajectories from its checkpoint's count on into training before anything new, so
//! no accepted trajectory is lost: the ones whose updates were rolled back with the model are
//! trained on again, exactly once in the run's final lineage.
//!
//! Layout: segment files `ingest-<first sequence number>.journal` in one directory, each a run
//! of records `[u32 length][u32 CRC-32][protobuf gfn.v1.Trajectory]` (little endian). A record
//! cut short by a crash was never acknowledged; reading stops there and the segment is
//! truncated to its last whole record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use gfn_common::trajectory::{RebuiltTrajectory, Trajectory};
use gfn_daemon::wire::trajectory_to_wire;
use gfn_proto::v1;

const PREFIX: &str = "ingest-";
const SUFFIX: &str = ".journal";
/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 16 << 20;

/// The journal's directory, with the segment being appended to.
pub struct Journal {
    dir: PathBuf,
    current: File,
    current_start: u64,
    current_bytes: u64,
    next: u64,
    closed: bool,
}

/// A journaled trajectory with its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Journaled {
    /// Position in the order of acceptance (0-based, over the whole run).
    pub sequence: u64,
    /// The trajectory as accepted.
    pub trajectory: Trajectory,
    /// Which actor instance sent it, and its number there.
    pub origin: Origin,
}

/// Where an accepted trajectory came from: the actor instance and the trajectory's sequence
/// number there (both 0 when the sender does not number its trajectories).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// `TrajectoryBatch.actor_instance`.
    pub instance: u64,
    /// `Trajectory.sequence`.
    pub sequence: u64,
}

/// The highest sequence number accepted per actor instance: what tells a resent trajectory.
pub type Delivered = std::collections::BTreeMap<u64, u64>;

/// Adds `origin` to `delivered`; whether it is new (not at or below the instance's highest).
pub fn deliver(delivered: &mut Delivered, origin: Origin) -> bool {
    if origin.instance == 0 || origin.sequence == 0 {
        return true;
    }
    let highest = delivered.entry(origin.instance).or_default();
    if origin.sequence <= *highest {
        return false;
    }
    *highest = origin.sequence;
    true
}

fn segment_path(dir: &Path, start: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{start:020}{SUFFIX}"))
}

/// Segments in `dir` by first sequence number, ascending.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let start = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.parse::<u64>().ok());
        if let Some(start) = start {
            found.push((start, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads the whole records of one segment; truncates a torn tail.
fn read_segment(path: &Path) -> io::Result<Vec<(Trajectory, Origin)>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else { break };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(record) = v1::Trajectory::decode(payload).map_err(|_| ()).and_then(|w| {
            let origin = Origin { instance: w.actor_instance, sequence: w.sequence };
            gfn_daemon::wire::trajectory_from_wire(w).map(|t| (t, origin)).map_err(|_| ())
        }) else {
            break;
        };
        records.push(record);
        at += 8 + len;
    }
    if at < bytes.len() {
        tracing::warn!(path = %path.display(), kept = at, dropped = bytes.len() - at, "journal: torn tail truncated");
        OpenOptions::new().write(true).open(path)?.set_len(at as u64)?;
    }
    Ok(records)
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns the trajectories from sequence
    /// number `consumed` on — accepted but not in the checkpoint the learner resumed from — in
    /// order, and the highest sequence number of every actor instance in the journal. Segments
    /// wholly before `consumed` are deleted.
    pub fn open(dir: &Path, consumed: u64) -> io::Result<(Self, Vec<Journaled>, Delivered)> {
        fs::create_dir_all(dir)?;
        let mut pending = Vec::new();
        let mut delivered = Delivered::new();
        let mut next = 0;
        for (start, path) in segments(dir)? {
            let records = read_segment(&path)?;
            // segments follow each other; a gap would mean a lost segment
            if start != next && next != 0 {
                return Err(io::Error::other(format!(
                    "journal segment {} starts at {start}, expected {next}",
                    path.display()
                )));
            }
            let end = start + records.len() as u64;
            for (_, origin) in &records {
                deliver(&mut delivered, *origin);
            }
            if end <= consumed {
                fs::remove_file(&path)?;
            } else {
                for (offset, (trajectory, origin)) in records.into_iter().enumerate() {
                    let sequence = start + offset as u64;
                    if sequence >= consumed {
                        pending.push(Journaled { sequence, trajectory, origin });
                    }
                }
            }
            next = end;
        }
        let next = next.max(consumed);
        let current_path = segment_path(dir, next);
        let current = OpenOptions::new().create(true).append(true).open(&current_path)?;
        let current_bytes = current.metadata()?.len();
        if current_bytes > 0 {
            return Err(io::Error::other(format!("{} already holds records", current_path.display())));
        }
        File::open(dir)?.sync_all()?;
        Ok((
            Self { dir: dir.to_path_buf(), current, current_start: next, current_bytes, next, closed: false },
            pending,
            delivered,
        ))
    }

    /// Sequence number the next accepted trajectory gets (= trajectories accepted so far).
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// Closes the journal at the end of the run: it takes nothing more, so the count returned
    /// (trajectories accepted in the run) stays the journal's last word.
    pub fn close(&mut self) -> u64 {
        self.closed = true;
        self.next
    }

    /// Whether the run has ended ([`Journal::close`]): a batch that finds it closed is not taken.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Appends `trajectories` (from `origins`, one each) and makes them durable; returns the
    /// first one's sequence number.
    pub fn append<S>(
        &mut self,
        trajectories: &[RebuiltTrajectory<S>],
        origins: &[Origin],
    ) -> io::Result<u64> {
        assert_eq!(trajectories.len(), origins.len(), "one origin per trajectory");
        if self.closed {
            return Err(io::Error::other("the journal is closed: the run has finished"));
        }
        let first = self.next;
        if trajectories.is_empty() {
            return Ok(first);
        }
        let mut buffer = Vec::new();
        for (t, origin) in trajectories.iter().zip(origins) {
            let wire = v1::Trajectory {
                sequence: origin.sequence,
                actor_instance: origin.instance,
                ..trajectory_to_wire(&t.record)
            };
            let payload = wire.encode_to_vec();
            buffer.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            buffer.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            buffer.extend_from_slice(&payload);
        }
        self.current.write_all(&buffer)?;
        self.current.sync_data()?;
        self.current_bytes += buffer.len() as u64;
        self.next += trajectories.len() as u64;
        if self.current_bytes >= SEGMENT_BYTES {
            self.current =
                OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, self.next))?;
            File::open(&self.dir)?.sync_all()?;
            self.current_start = self.next;
            self.current_bytes = 0;
        }
        Ok(first)
    }

    /// Deletes closed segments whose trajectories all precede `consumed` (the count of the
    /// oldest checkpoint still kept: any of them may be the one a restart falls back to).
    pub fn discard_before(&mut self, consumed: u64) -> io::Result<()> {
        let segments = segments(&self.dir)?;
        for (i, (start, path)) in segments.iter().enumerate() {
            if *start == self.current_start {
                break;
            }
            let end = segments.get(i + 1).map_or(self.next, |(next, _)| *next);
            if end <= consumed {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuilt(actions: Vec<u32>, log_reward: f64) -> RebuiltTrajectory<()> {
        let states = vec![(); actions.len()];
        let record = Trajectory { actions, log_reward, policy_version: 3, ..Default::default() };
        RebuiltTrajectory { record, states }
    }

    #[test]
    fn origins_survive_a_restart_and_tell_resent_trajectories() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _, _) = Journal::open(dir.path(), 0).unwrap();
        let a = |sequence| Origin { instance: 7, sequence };
        let b = |sequence| Origin { instance: 9, sequence };
        journal.append(&[rebuilt(vec![2], -1.0), rebuilt(vec![2], -1.0)], &[a(1), a(2)]).unwrap();
        journal.append(&[rebuilt(vec![2], -1.0)], &[b(1)]).unwrap();
        journal.append(&[rebuilt(vec![2], -1.0)], &[a(3)]).unwrap();
        drop(journal);
        let (_, pending, mut delivered) = Journal::open(dir.path(), 2).unwrap();
        assert_eq!(pending.iter().map(|j| j.origin).collect::<Vec<_>>(), [b(1), a(3)]);
        assert_eq!(
            delivered,
            Delivered::from([(7, 3), (9, 1)]),
            "the highest per instance, all of the journal"
        );
        // a batch sent again is recognised; the next one is new; unnumbered ones always are
        assert!(!deliver(&mut delivered, a(2)));
        assert!(!deliver(&mut delivered, a(3)));
        assert!(deliver(&mut delivered, a(4)));
        assert!(deliver(&mut delivered, Origin::default()));
        assert!(deliver(&mut delivered, Origin::default()));
        assert!(deliver(&mut delivered, Origin { instance: 11, sequence: 1 }));
    }

    #[test]
    fn accepted_trajectories_survive_a_restart_from_the_consumed_count() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, pending, _) = Journal::open(dir.path(), 0).unwrap();
        assert!(pending.is_empty());
        assert_eq!(
            journal
                .append(&[rebuilt(vec![0, 2], -1.0), rebuilt(vec![2], -2.0)], &[Origin::default(); 2])
                .unwrap(),
            0
        );
        assert_eq!(journal.append(&[rebuilt(vec![1, 1, 2], -3.0)], &[Origin::default(); 1]).unwrap(), 2);
        drop(journal); // a SIGKILL: nothing more than what append made durable
        let (journal, pending, _) = Journal::open(dir.path(), 1).unwrap();
        assert_eq!(journal.next_sequence(), 3);
        let sequences: Vec<u64> = pending.iter().map(|j| j.sequence).collect();
        assert_eq!(sequences, vec![1, 2]);
        assert_eq!(pending[1].trajectory.actions, vec![1, 1, 2]);
        assert_eq!(pending[1].trajectory.log_reward, -3.0);
        assert_eq!(pending[1].trajectory.policy_version, 3);
    }

    #[test]
    fn a_closed_journal_takes_nothing_more_and_its_count_stands() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _, _) = Journal::open(dir.path(), 0).unwrap();
        journal
            .append(&[rebuilt(vec![2], -1.0), rebuilt(vec![0, 2], -1.5)], &[Origin::default(); 2])
            .unwrap();
        assert!(!journal.is_closed());
        assert_eq!(journal.close(), 2, "the run's count");
        assert!(journal.is_closed());
        // a batch that was being checked while the run finished
        assert!(journal.append(&[rebuilt(vec![1, 2], -0.5)], &[Origin::default(); 1]).is_err());
        assert_eq!(journal.next_sequence(), 2);
        drop(journal);
        let (journal, pending, _) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!((journal.next_sequence(), pending.len()), (2, 2), "nothing was written after the close");
    }

    #[test]
    fn a_torn_record_is_dropped_and_consumed_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _, _) = Journal::open(dir.path(), 0).unwrap();
        journal
            .append(&[rebuilt(vec![2], -1.0), rebuilt(vec![0, 2], -1.5)], &[Origin::default(); 2])
            .unwrap();
        drop(journal);
        // a crash in the middle of the next append: half a record at the end
        let (_, path) = segments(dir.path()).unwrap().into_iter().next().unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 9]).unwrap();
        drop(file);
        let (mut journal, pending, _) = Journal::open(dir.path(), 0).unwrap();
        assert_eq!(pending.len(), 2, "the torn record was never acknowledged");
        assert_eq!(journal.next_sequence(), 2);
        journal.append(&[rebuilt(vec![1, 2], -0.5)], &[Origin::default(); 1]).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        journal.discard_before(2).unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 1, "the first segment is wholly consumed");
        drop(journal);
        let (_, pending, _) = Journal::open(dir.path(), 2).unwrap();
        assert_eq!(pending.iter().map(|j| j.sequence).collect::<Vec<_>>(), vec![2]);
    }
}

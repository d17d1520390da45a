import Foundation
import Glibc
import Logging

/// Moves spooled WAL to every WAL sink: oldest first, compressed, encrypted where a sink encrypts,
/// and out of the spool only once every sink holds it. One pusher runs per spool at a time
/// (``WALPusherLock``). A sink that fails is retried with growing pauses (up to 15 s) until the
/// spool is empty; meanwhile the spool grows and ``AlertEvent/walLag`` is sent once when a segment
/// waits longer than `max_wal_lag` or the spool passes 80% of its limit.
public struct WALPusher: Sendable {
    public var plan: String
    public var source: String
    public var spool: WALSpool
    public var sinks: [any Sink]
    /// The age recipients of each sink that encrypts, by sink name.
    public var recipients: [String: [AgeRecipient]]
    public var logger: Logger
    /// Sends an alert (the plan's notifiers); called at most once per lag episode.
    public var alert: @Sendable (AlertEvent, String) async -> Void
    /// The longest pause between two attempts after a failure.
    public var maximumPause: Double = 15

    public init(plan: String, source: String, spool: WALSpool, sinks: [any Sink], recipients: [String: [AgeRecipient]], logger: Logger,
                alert: @escaping @Sendable (AlertEvent, String) async -> Void) {
        self.plan = plan
        self.source = source
        self.spool = spool
        self.sinks = sinks
        self.recipients = recipients
        self.logger = logger
        self.alert = alert
    }

    public struct Outcome: Sendable {
        public var pushed: Int = 0
        public var failures: Int = 0
    }

    /// Pushes until the spool is empty. With `giveUpAfterFailures`, stops after that many failed
    /// rounds instead (for `wal drain --once`).
    @discardableResult
    public func drain(giveUpAfterFailures: Int? = nil) async throws -> Outcome {
        var outcome = Outcome()
        var held: [String: Set<String>] = [:]  // sink -> keys it holds, from one listing per sink
        var pause = 1.0
        var lag = LagState.load(spool: spool)
        while true {
            let entries = try spool.pending()
            if entries.isEmpty {
                if lag.alerted {
                    logger.notice("WAL caught up: the spool \(spool.directory) is empty again")
                    lag = LagState()
                    lag.save(spool: spool)
                }
                return outcome
            }
            // A sink that fails sits out the rest of the round; the others keep receiving WAL, so an
            // off-site outage never holds up the local copy.
            var failedSinks: [String: String] = [:]
            for entry in entries {
                do {
                    if try await push(entry, held: &held, failedSinks: &failedSinks) {
                        outcome.pushed += 1
                    }
                } catch {
                    failedSinks["spool"] = BackupError.wrap(error, as: .sinkFailed, "pushing \(entry.name.name)").message
                    break
                }
                if failedSinks.count == sinks.count { break }
            }
            let failed: String? = failedSinks.isEmpty ? nil : failedSinks.sorted { $0.key < $1.key }.map(\.value).joined(separator: "; ")
            // Checked every round, not only after a failure: a slow sink lags too.
            if !lag.alerted, let reason = try lagReason() {
                lag.alerted = true
                lag.since = Date()
                lag.save(spool: spool)
                await alert(.walLag, reason + (failed.map { ". Last error: \($0)" } ?? ""))
            }
            if failed == nil { pause = 1 }
            guard let failed else { continue }
            outcome.failures += 1
            logger.warning("\(failed); retrying in \(Int(pause)) s")
            if let limit = giveUpAfterFailures, outcome.failures >= limit {
                throw BackupError(.sinkFailed, failed)
            }
            try await Task.sleep(nanoseconds: UInt64(pause * 1e9))
            pause = min(pause * 2, maximumPause)
        }
    }

    /// Why the spool counts as lagging, or nil.
    func lagReason() throws -> String? {
        let usage = try spool.usage()
        if let oldest = usage.oldest, Date().timeIntervalSince(oldest) > spool.settings.maxWALLag.seconds {
            return "WAL of source '\(source)' waits in the spool \(spool.directory): the oldest file is \(Int(Date().timeIntervalSince(oldest))) s old (max_wal_lag: \(spool.settings.maxWALLag)), \(usage.count) files, \(formatBytes(usage.bytes)) of \(formatBytes(spool.settings.spoolLimit))"
        }
        if Double(usage.bytes) > 0.8 * Double(spool.settings.spoolLimit) {
            return "the WAL spool \(spool.directory) of source '\(source)' holds \(formatBytes(usage.bytes)), over 80% of its limit \(formatBytes(spool.settings.spoolLimit)); at the limit archive_command fails and PostgreSQL keeps WAL in pg_wal"
        }
        return nil
    }

    /// Sends `entry` to every sink that lacks it and has not failed this round; true when every sink
    /// holds it and it left the spool.
    private func push(_ entry: WALSpool.Entry, held: inout [String: Set<String>], failedSinks: inout [String: String]) async throws -> Bool {
        let sha256 = try spool.digest(of: entry)
        let compressedPath = spool.directory + "/outgoing.zst"
        let compressed = try WALObject.compressChecked(path: entry.path, sha256: sha256, name: entry.name)
        let staged = try StagedFile(writing: compressed, to: compressedPath)
        defer { unlink(compressedPath) }
        let time = min(entry.modified, Date())
        let identity = "\(entry.name.name).\(sha256)"
        for sink in sinks where failedSinks[sink.name] == nil {
            do {
                if held[sink.name] == nil {
                    held[sink.name] = Set(try await sink.list().compactMap { ArchivedWAL($0, plan: plan, source: source) }.map { "\($0.name.name).\($0.sha256)" })
                }
                // A copy from an earlier attempt (the pusher died before the spool forgot the file).
                if held[sink.name]!.contains(identity) { continue }
                let encryptTo = recipients[sink.name]
                let key = ArchivedWAL.key(plan: plan, source: source, name: entry.name, sha256: sha256, time: time, encrypted: encryptTo != nil)
                try await sink.put(key, from: try encryptTo.map { try staged.encrypted(to: $0) } ?? staged)
                held[sink.name]!.insert(identity)
                logger.debug("\(entry.name.name) → \(sink.name) as \(key)")
            } catch {
                failedSinks[sink.name] = BackupError.wrap(error, as: .sinkFailed, "sink '\(sink.name)', \(entry.name.name)").message
                held[sink.name] = nil
            }
        }
        guard sinks.allSatisfy({ held[$0.name]?.contains(identity) == true }) else { return false }
        try spool.markArchived(entry, sha256: sha256)
        return true
    }

    /// Whether a lag alert was sent for the current episode, kept in the spool's `lag.json`.
    struct LagState: Codable {
        var alerted = false
        var since: Date?

        static func load(spool: WALSpool) -> LagState {
            guard let data = FileManager.default.contents(atPath: spool.directory + "/lag.json") else { return LagState() }
            return (try? JSONDecoder().decode(LagState.self, from: data)) ?? LagState()
        }

        func save(spool: WALSpool) {
            guard let data = try? JSONEncoder().encode(self) else { return }
            _ = try? AtomicFileWriter.write(Array(data), to: spool.directory + "/lag.json")
        }
    }
}

/// One pusher per spool: `pusher.lock` is held while pushing; `pusher.wait` by the one process that
/// waits to push next. A `wal push` starts a pusher only when nobody waits, and a pusher that finds
/// someone waiting leaves: the waiter starts after every file queued so far, so it sees them all.
public final class WALPusherLock: @unchecked Sendable {
    private var descriptors: [Int32] = []

    /// Whether a process waits to push (then a new pusher is not needed).
    public static func someoneWaits(spool: String) -> Bool {
        let fd = open(spool + "/pusher.wait", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// Becomes the waiter, then the pusher: nil when another process already waits.
    public static func acquire(spool: String, wait: Bool) throws -> WALPusherLock? {
        let lock = WALPusherLock()
        let waitFD = open(spool + "/pusher.wait", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard waitFD >= 0 else { throw fileSystemError("cannot open", spool + "/pusher.wait") }
        guard flock(waitFD, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0 else {
            close(waitFD)
            return nil
        }
        let runFD = open(spool + "/pusher.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard runFD >= 0 else {
            close(waitFD)
            throw fileSystemError("cannot open", spool + "/pusher.lock")
        }
        while flock(runFD, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(waitFD)
                close(runFD)
                throw fileSystemError("cannot lock", spool + "/pusher.lock")
            }
        }
        close(waitFD)
        lock.descriptors = [runFD]
        return lock
    }

    deinit { descriptors.forEach { close($0) } }
}

enum WALObject {
    /// Compresses a spooled file, checking in the same pass that it still holds what was spooled.
    static func compressChecked(path: String, sha256: String, name: WALFileName) throws -> [UInt8] {
        let (compressed, actual) = try ArchivedWAL.compress(path: path)
        guard actual == sha256 else {
            throw BackupError(.verificationFailed, "the spooled copy of \(name.name) (\(path)) changed on disk: SHA-256 \(actual.prefix(16))…, spooled as \(sha256.prefix(16))…. The spool's disk may be failing; the file is kept for inspection")
        }
        return compressed
    }
}
